package forward

import "github.com/cespare/xxhash/v2"

// rendezvous is highest-random-weight hashing: every origin scores every
// key, and the key belongs to the highest score. An origin's score
// depends only on its name and the key, so every edge agrees whatever
// order its list is in, and removing an origin moves only its own keys.
type rendezvous struct {
	seeds []uint64 // hash of each origin's name
}

func newRendezvous(names []string) rendezvous {
	r := rendezvous{seeds: make([]uint64, len(names))}
	for i, n := range names {
		r.seeds[i] = xxhash.Sum64String(n)
	}
	return r
}

// score is origin i's weight for key: the splitmix64 finaliser of both
// hashes, so that scores of one key are independent across origins.
func (r *rendezvous) score(key uint64, i int) uint64 {
	z := key ^ r.seeds[i]
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// beats orders two scored origins. Equal scores fall back to the seeds,
// not list positions, so that edges with differently ordered lists agree.
func (r *rendezvous) beats(si uint64, i int, sj uint64, j int) bool {
	if si != sj {
		return si > sj
	}
	return r.seeds[i] > r.seeds[j]
}

// pick is the origin key belongs to.
func (r *rendezvous) pick(key uint64) int {
	best, bs := 0, r.score(key, 0)
	for i := 1; i < len(r.seeds); i++ {
		if s := r.score(key, i); r.beats(s, i, bs, best) {
			best, bs = i, s
		}
	}
	return best
}

// maxAttempts bounds the origins one request may try.
const maxAttempts = 3

// ranking keeps the best k (at most maxAttempts) origins offered to it,
// best first, in fixed arrays so that failover order costs no allocation.
type ranking struct {
	idx   [maxAttempts]int
	score [maxAttempts]uint64
	n, k  int
}

// offer considers origin i with score s.
func (rk *ranking) offer(r *rendezvous, i int, s uint64) {
	pos := rk.n
	for pos > 0 && r.beats(s, i, rk.score[pos-1], rk.idx[pos-1]) {
		pos--
	}
	if pos >= rk.k {
		return
	}
	if rk.n < rk.k {
		rk.n++
	}
	copy(rk.idx[pos+1:rk.n], rk.idx[pos:rk.n-1])
	copy(rk.score[pos+1:rk.n], rk.score[pos:rk.n-1])
	rk.idx[pos], rk.score[pos] = i, s
}

// order fills dst with the origins for key, best first, up to len(dst)
// and at most maxAttempts; it returns how many it filled.
func (r *rendezvous) order(key uint64, dst []int) int {
	rk := ranking{k: min(len(dst), maxAttempts, len(r.seeds))}
	for i := range r.seeds {
		rk.offer(r, i, r.score(key, i))
	}
	return copy(dst, rk.idx[:rk.n])
}
