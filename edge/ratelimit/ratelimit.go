// Package ratelimit limits requests per client IP with a token bucket
// cheap enough to stay on under a flood: a call allocates nothing,
// takes one uncontended lock out of thousands, and memory is fixed when
// the Limiter is made, however many addresses send requests.
//
// Clients are IPv4 addresses and IPv6 /64 prefixes: a /64 is what one
// subscriber or host gets, and a bucket per IPv6 address would give one
// host 2^64 of them. IPv4-mapped IPv6 addresses count as their IPv4
// address.
//
// Buckets live in a fixed, set-associative table of MaxClients slots: a
// client's keyed hash picks a set of 8 slots (each with its own lock),
// and a new client takes the slot in its set whose bucket holds the most
// tokens. That is an idle, full bucket whenever there is one, and
// forgetting a full bucket loses nothing, since a new client starts
// full. Only when every bucket in the set is partly drained is state
// lost, and then the least drained client's: it may get up to a burst
// more than its rate. The hash is seeded per Limiter, so no one can aim
// addresses at one set to evict a chosen client.
package ratelimit

import (
	"errors"
	"hash/maphash"
	"math"
	"math/bits"
	"net/netip"
	"sync"
	"time"
)

// Options tune a Limiter; the zero value is usable.
type Options struct {
	// MaxClients bounds the clients tracked at once, and so memory
	// (about 32 bytes each). Default 100,000. It is rounded down to a
	// multiple of 8 when larger than 8.
	MaxClients int
	// Now returns the time in nanoseconds; it must not jump backwards
	// by much. Default: a monotonic clock.
	Now func() int64
}

// DefaultMaxClients is the MaxClients of the zero Options.
const DefaultMaxClients = 100_000

// ways is the size of a set: enough that an idle bucket is usually at
// hand, few enough to scan in a couple of cache lines.
const ways = 8

// Limiter is a per-client token bucket; it is safe for concurrent use.
// It runs the bucket as GCRA: one "theoretical arrival time" per client
// instead of a token count and a timestamp.
type Limiter struct {
	interval  int64 // nanoseconds per token
	tolerance int64 // burst * interval: how far ahead of now a client may be
	ways      int   // used slots per set, <= ways
	sets      []set
	seed      maphash.Seed
	now       func() int64
}

type set struct {
	mu    sync.Mutex
	slots [ways]slot
	_     [56]byte // sets are 256 bytes: neighbours share no cache line
}

type slot struct {
	key uint64 // IPv4 address or IPv6 /64 prefix
	tat int64  // when the bucket is full again, plus one interval per token taken
	fam uint8  // 0: empty
}

// client is what the hash is computed over.
type client struct {
	key uint64
	fam uint8
}

const (
	famEmpty uint8 = iota
	famV4
	famV6
	famInvalid // the zero netip.Addr: one shared bucket
)

// New returns a Limiter allowing each client rate requests per second
// on average, and up to burst at once.
func New(rate float64, burst int, opts Options) (*Limiter, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, errors.New("ratelimit: the rate must be positive and finite")
	}
	if burst < 1 {
		return nil, errors.New("ratelimit: the burst must be at least 1")
	}
	maxClients := opts.MaxClients
	if maxClients == 0 {
		maxClients = DefaultMaxClients
	}
	if maxClients < 1 {
		return nil, errors.New("ratelimit: MaxClients must be positive")
	}
	// Times stay far from overflow: tat is at most now + burst*interval.
	iv := math.Round(float64(time.Second) / rate)
	if iv*float64(burst) > 1<<60 {
		return nil, errors.New("ratelimit: rate too low for this burst")
	}
	interval := max(1, int64(iv))
	l := &Limiter{
		interval:  interval,
		tolerance: interval * int64(burst),
		ways:      min(ways, maxClients),
		seed:      maphash.MakeSeed(),
		now:       opts.Now,
	}
	l.sets = make([]set, maxClients/l.ways)
	if l.now == nil {
		start := time.Now()
		l.now = func() int64 { return int64(time.Since(start)) }
	}
	return l, nil
}

func clientOf(ip netip.Addr) client {
	ip = ip.Unmap()
	switch {
	case ip.Is4():
		a := ip.As4()
		return client{uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3]), famV4}
	case ip.Is6():
		a := ip.As16()
		var k uint64
		for _, b := range a[:8] {
			k = k<<8 | uint64(b)
		}
		return client{k, famV6}
	}
	return client{0, famInvalid}
}

// Allow takes a token from ip's bucket. When there is none, it returns
// false and how long until there will be one (round it up to whole
// seconds for Retry-After). The zero netip.Addr is one client like any
// other, so a missing address is limited rather than let through.
func (l *Limiter) Allow(ip netip.Addr) (ok bool, retryAfter time.Duration) {
	c := clientOf(ip)
	h := maphash.Comparable(l.seed, c)
	hi, _ := bits.Mul64(h, uint64(len(l.sets)))
	s := &l.sets[hi]
	now := l.now()

	s.mu.Lock()
	sl := s.find(c, l.ways)
	tat := max(sl.tat, now) + l.interval
	if wait := tat - now - l.tolerance; wait > 0 {
		s.mu.Unlock()
		return false, time.Duration(wait)
	}
	sl.tat = tat
	s.mu.Unlock()
	return true, 0
}

// find returns c's slot, taking one for it if it has none: an empty
// one, else the one with the most tokens (the lowest tat).
func (s *set) find(c client, n int) *slot {
	victim := 0
	for i := 0; i < n; i++ {
		sl := &s.slots[i]
		if sl.key == c.key && sl.fam == c.fam {
			return sl
		}
		v := &s.slots[victim]
		if v.fam != famEmpty && (sl.fam == famEmpty || sl.tat < v.tat) {
			victim = i
		}
	}
	sl := &s.slots[victim]
	*sl = slot{key: c.key, fam: c.fam, tat: math.MinInt64}
	return sl
}

// Len returns how many clients are tracked, at most MaxClients. It
// takes every lock in turn; it is meant for metrics and tests.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.sets {
		s := &l.sets[i]
		s.mu.Lock()
		for j := 0; j < l.ways; j++ {
			if s.slots[j].fam != famEmpty {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}
