package forward

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/urlapi"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("origin-%d.internal:8081", i)
	}
	return out
}

// keys are route keys of realistic specs, deterministic so the
// statistical bounds below cannot flake.
func keys(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = routeKey(&derivative.Spec{
			Cloud: "demo", ResourceType: urlapi.Image, Type: urlapi.Upload,
			PublicID: fmt.Sprintf("folder/photo_%d", i/4), Tx: fmt.Sprintf("c_fill,w_%d", 100+i%4),
			Format: format.Auto,
		})
	}
	return out
}

// chiSquare of the counts against an even spread.
func chiSquare(counts []int, total int) float64 {
	e := float64(total) / float64(len(counts))
	x := 0.0
	for _, c := range counts {
		d := float64(c) - e
		x += d * d / e
	}
	return x
}

func TestRendezvousEven(t *testing.T) {
	ks := keys(100_000)
	// Critical values of chi-square at p = 0.001 for N-1 degrees of freedom.
	for _, tc := range []struct {
		n     int
		limit float64
	}{{3, 13.82}, {5, 18.47}} {
		r := newRendezvous(names(tc.n))
		counts := make([]int, tc.n)
		for _, k := range ks {
			counts[r.pick(k)]++
		}
		if x := chiSquare(counts, len(ks)); x > tc.limit {
			t.Errorf("%d origins: counts %v, chi-square %.2f > %.2f", tc.n, counts, x, tc.limit)
		}
	}
}

func TestRendezvousRemovalMovesOnlyItsKeys(t *testing.T) {
	all := names(5)
	full := newRendezvous(all)
	for gone := range all {
		rest := append(append([]string(nil), all[:gone]...), all[gone+1:]...)
		less := newRendezvous(rest)
		moved := 0
		ks := keys(20_000)
		for _, k := range ks {
			before := all[full.pick(k)]
			after := rest[less.pick(k)]
			if before == all[gone] {
				moved++
				continue
			}
			if before != after {
				t.Fatalf("without %s, a key of %s moved to %s", all[gone], before, after)
			}
		}
		// About a fifth moved: only the removed origin's own keys.
		if f := float64(moved) / float64(len(ks)); f < 0.17 || f > 0.23 {
			t.Errorf("without %s, %.3f of the keys moved, want about 0.2", all[gone], f)
		}
	}
}

func TestRendezvousSameAcrossPools(t *testing.T) {
	a := names(5)
	b := append([]string(nil), a...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	ra, rb := newRendezvous(a), newRendezvous(b)
	for _, k := range keys(10_000) {
		if x, y := a[ra.pick(k)], b[rb.pick(k)]; x != y {
			t.Fatalf("key %x: %s in one pool, %s in another", k, x, y)
		}
		var oa, ob [maxAttempts]int
		na, nb := ra.order(k, oa[:]), rb.order(k, ob[:])
		if na != maxAttempts || nb != maxAttempts {
			t.Fatalf("order filled %d and %d, want %d", na, nb, maxAttempts)
		}
		for i := range na {
			if a[oa[i]] != b[ob[i]] {
				t.Fatalf("key %x: failover order differs at %d", k, i)
			}
		}
	}
}

// The failover order is the pick, then the pick among the rest.
func TestRendezvousOrder(t *testing.T) {
	all := names(5)
	r := newRendezvous(all)
	for _, k := range keys(2_000) {
		var o [maxAttempts]int
		n := r.order(k, o[:])
		if n != maxAttempts || o[0] != r.pick(k) {
			t.Fatalf("order %v (%d), pick %d", o, n, r.pick(k))
		}
		rest := append(append([]string(nil), all[:o[0]]...), all[o[0]+1:]...)
		less := newRendezvous(rest)
		if rest[less.pick(k)] != all[o[1]] {
			t.Fatalf("second choice %s, but without the first the pick is %s", all[o[1]], rest[less.pick(k)])
		}
	}
	var one [1]int
	single := newRendezvous(names(1))
	if n := single.order(7, one[:]); n != 1 || one[0] != 0 {
		t.Fatalf("pool of one: %d, %v", n, one)
	}
}

func TestRouteKeyIgnoresNegotiation(t *testing.T) {
	s := derivative.Spec{Cloud: "demo", ResourceType: urlapi.Image, Type: urlapi.Upload,
		PublicID: "sample", Tx: "w_100", Format: format.Auto}
	k := routeKey(&s)
	v := s
	v.Accepts, v.Signed = 0xff, true
	if routeKey(&v) != k {
		t.Error("Accept or signing changed the origin")
	}
	for _, change := range []func(*derivative.Spec){
		func(s *derivative.Spec) { s.Cloud = "other" },
		func(s *derivative.Spec) { s.PublicID = "sample2" },
		func(s *derivative.Spec) { s.Tx = "w_101" },
		func(s *derivative.Spec) { s.Format = format.WebP },
		func(s *derivative.Spec) { s.Type = urlapi.Private },
		func(s *derivative.Spec) { s.ResourceType = urlapi.Video },
		// Field boundaries count: "a" + "bc" is not "ab" + "c".
		func(s *derivative.Spec) { s.PublicID, s.Tx = "sampl", "ew_100" },
	} {
		v := s
		change(&v)
		if routeKey(&v) == k {
			t.Errorf("%+v routes like %+v", v, s)
		}
	}
}

func benchSpec() derivative.Spec {
	return derivative.Spec{Cloud: "demo", ResourceType: urlapi.Image, Type: urlapi.Upload,
		PublicID: "folder/sample", Tx: "c_fill,g_auto,h_400,w_600/e_sharpen", Format: format.Auto}
}

// BenchmarkPick is the hot path's placement: hash the spec, pick of five.
func BenchmarkPick(b *testing.B) {
	r := newRendezvous(names(5))
	spec := benchSpec()
	best := 0
	b.ReportAllocs()
	for b.Loop() {
		best = r.pick(routeKey(&spec))
	}
	if best < 0 || best >= 5 {
		b.Fatal(best)
	}
}

// BenchmarkOrder is the failover order of five into a caller's array.
func BenchmarkOrder(b *testing.B) {
	r := newRendezvous(names(5))
	spec := benchSpec()
	k := routeKey(&spec)
	var o [maxAttempts]int
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n = r.order(k, o[:])
	}
	if n != maxAttempts {
		b.Fatal(n)
	}
}
