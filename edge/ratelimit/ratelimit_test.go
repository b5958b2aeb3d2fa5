package ratelimit

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// clock is a fake time source, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() int64              { return c.ns.Load() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newLimiter(t testing.TB, rate float64, burst, maxClients int) (*Limiter, *clock) {
	t.Helper()
	c := &clock{}
	c.ns.Store(1_000_000_000_000) // any start: only differences matter
	l, err := New(rate, burst, Options{MaxClients: maxClients, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

var ip = netip.MustParseAddr

func expect(t *testing.T, l *Limiter, a netip.Addr, ok bool, retry time.Duration) {
	t.Helper()
	gotOK, gotRetry := l.Allow(a)
	if gotOK != ok || gotRetry != retry {
		t.Fatalf("Allow(%v) = %v, %v; want %v, %v", a, gotOK, gotRetry, ok, retry)
	}
}

func TestBurstThenRetryAfter(t *testing.T) {
	l, c := newLimiter(t, 2, 3, 0) // a token every 500ms
	a := ip("192.0.2.1")
	for range 3 {
		expect(t, l, a, true, 0)
	}
	expect(t, l, a, false, 500*time.Millisecond)
	c.advance(499 * time.Millisecond)
	expect(t, l, a, false, time.Millisecond)
	c.advance(time.Millisecond)
	expect(t, l, a, true, 0)
	expect(t, l, a, false, 500*time.Millisecond)
	// A refusal takes nothing: waiting the advertised time is enough.
	for range 5 {
		l.Allow(a)
	}
	c.advance(500 * time.Millisecond)
	expect(t, l, a, true, 0)
}

func TestRefill(t *testing.T) {
	l, c := newLimiter(t, 10, 5, 0)
	a := ip("192.0.2.1")
	for range 5 {
		expect(t, l, a, true, 0)
	}
	expect(t, l, a, false, 100*time.Millisecond)
	// A long idle time refills to the burst, not beyond.
	c.advance(time.Hour)
	for range 5 {
		expect(t, l, a, true, 0)
	}
	expect(t, l, a, false, 100*time.Millisecond)
	// Sustained: over 10s, one every 100ms gets through.
	allowed := 0
	for range 1000 {
		c.advance(10 * time.Millisecond)
		if ok, _ := l.Allow(a); ok {
			allowed++
		}
	}
	if allowed != 100 {
		t.Errorf("%d of 1000 requests over 10s allowed at 10/s, want 100", allowed)
	}
}

func TestClients(t *testing.T) {
	l, _ := newLimiter(t, 1, 1, 0)
	cases := []struct {
		first, second string
		same          bool
	}{
		{"192.0.2.1", "192.0.2.2", false},
		{"192.0.2.3", "::ffff:192.0.2.3", true},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true}, // one /64
		{"2001:db8:1:3::1", "2001:db8:1:4::1", false},
		{"0.0.0.5", "::5", false}, // equal numbers, other families
		{"2001:db8:9::1%eth0", "2001:db8:9::2", true},
	}
	for _, c := range cases {
		expect(t, l, ip(c.first), true, 0)
		if ok, _ := l.Allow(ip(c.second)); ok == c.same {
			t.Errorf("%s then %s: second allowed = %v, want one bucket = %v", c.first, c.second, ok, c.same)
		}
	}
	// No address is one client too, limited like any other.
	expect(t, l, netip.Addr{}, true, 0)
	expect(t, l, netip.Addr{}, false, time.Second)
}

func TestMemoryBounded(t *testing.T) {
	for _, maxClients := range []int{1, 7, 8, 9, 1000, 100_001} {
		l, _ := newLimiter(t, 1, 1, maxClients)
		if capacity := len(l.sets) * l.ways; capacity > maxClients || capacity < maxClients-7 {
			t.Errorf("MaxClients %d: capacity %d", maxClients, capacity)
		}
	}
	l, c := newLimiter(t, 1, 1, 1000)
	for i := range 100_000 {
		c.advance(time.Microsecond)
		l.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		if i%10_000 == 0 {
			l.Allow(netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, byte(i >> 8), byte(i)}))
		}
	}
	if n := l.Len(); n != 1000 {
		t.Errorf("after 100,000 addresses %d clients are tracked, want all 1000 slots", n)
	}
	if unsafe.Sizeof(set{}) != 256 {
		t.Errorf("a set is %d bytes, want 256", unsafe.Sizeof(set{}))
	}
}

// New clients take idle buckets first: churn does not reset a client
// that is being limited while its set has idle slots.
func TestEvictionKeepsDrainedBuckets(t *testing.T) {
	l, c := newLimiter(t, 1, 10, 8) // one set of 8
	abuser := ip("198.51.100.66")
	for range 10 {
		l.Allow(abuser)
	}
	expect(t, l, abuser, false, time.Second)
	for round := range 20 {
		c.advance(2 * time.Second) // every other bucket is full again by now
		for i := range 7 {
			l.Allow(netip.AddrFrom4([4]byte{203, 0, byte(round), byte(i)}))
		}
		if round%5 == 4 {
			// The abuser's bucket kept its state: only as many tokens as
			// the time since its last one refilled.
			for range 10 {
				l.Allow(abuser)
			}
			if ok, _ := l.Allow(abuser); ok {
				t.Fatalf("round %d: churn reset the abuser's bucket", round)
			}
		}
	}
	if l.Len() != 8 {
		t.Errorf("%d clients tracked in one set of 8", l.Len())
	}
}

func TestConcurrent(t *testing.T) {
	shared := ip("192.0.2.200")
	var allowed atomic.Int64
	var wg sync.WaitGroup

	// The clock stands still: the count is exact whatever the interleaving.
	l, _ := newLimiter(t, 1, 50, 0)
	for range 16 {
		wg.Go(func() {
			for range 1000 {
				if ok, _ := l.Allow(shared); ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 50 {
		t.Errorf("%d of 16000 concurrent requests allowed with a burst of 50 and a frozen clock", n)
	}

	// A small table churned by new clients from many goroutines: the
	// drained client is never the fullest bucket of its set, so it is
	// never evicted, and the table never grows.
	l, c := newLimiter(t, 1, 50, 64)
	for range 50 {
		l.Allow(shared)
	}
	allowed.Store(0)
	for g := range 16 {
		wg.Go(func() {
			for i := range 2000 {
				if ok, _ := l.Allow(shared); ok {
					allowed.Add(1)
				}
				l.Allow(netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)}))
				if i%500 == 0 {
					c.advance(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 0 {
		t.Errorf("the drained client got %d requests through while others churned the table", n)
	}
	if n := l.Len(); n > 64 {
		t.Errorf("%d clients tracked, MaxClients 64", n)
	}
}

func TestNewRejects(t *testing.T) {
	cases := []struct {
		name  string
		rate  float64
		burst int
		opts  Options
	}{
		{"zero rate", 0, 1, Options{}},
		{"negative rate", -1, 1, Options{}},
		{"NaN rate", math.NaN(), 1, Options{}},
		{"infinite rate", math.Inf(1), 1, Options{}},
		{"zero burst", 1, 0, Options{}},
		{"negative MaxClients", 1, 1, Options{MaxClients: -1}},
		{"rate too low for the burst", 1e-12, 1 << 30, Options{}},
	}
	for _, c := range cases {
		if l, err := New(c.rate, c.burst, c.opts); err == nil {
			t.Errorf("%s: New = %p, want an error", c.name, l)
		}
	}
	// A huge rate is one token per nanosecond, not zero.
	l, err := New(1e18, 1, Options{})
	if err != nil || l.interval != 1 {
		t.Errorf("New(1e18) = %v, interval %d", err, l.interval)
	}
}

func TestDefaultClock(t *testing.T) {
	l, err := New(1000, 1, Options{MaxClients: 8})
	if err != nil {
		t.Fatal(err)
	}
	a := ip("192.0.2.1")
	if ok, _ := l.Allow(a); !ok {
		t.Fatal("first request refused")
	}
	ok, retry := l.Allow(a)
	if !ok && (retry <= 0 || retry > time.Millisecond) {
		t.Errorf("retry after %v at 1000/s", retry)
	}
	time.Sleep(2 * time.Millisecond)
	if ok, _ := l.Allow(a); !ok {
		t.Error("refused after two intervals on the real clock")
	}
}

func TestAllowAllocs(t *testing.T) {
	l, c := newLimiter(t, 100, 10, 1000)
	addrs := []netip.Addr{ip("192.0.2.1"), ip("2001:db8::1"), ip("::ffff:192.0.2.9"), {}}
	for _, a := range addrs {
		if n := testing.AllocsPerRun(100, func() { c.advance(time.Millisecond); l.Allow(a) }); n != 0 {
			t.Errorf("Allow(%v) allocates %v times per call", a, n)
		}
	}
	l2, _ := New(100, 10, Options{})
	if n := testing.AllocsPerRun(100, func() { l2.Allow(addrs[0]) }); n != 0 {
		t.Errorf("Allow on the default clock allocates %v times per call", n)
	}
}

func addrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		if i%4 == 3 {
			out[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, byte(i >> 16), byte(i >> 8), byte(i), 0, 15: 1})
		} else {
			out[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}
	}
	return out
}

func BenchmarkAllow(b *testing.B) {
	b.Run("one client", func(b *testing.B) {
		l, _ := New(1e6, 100, Options{})
		a := ip("192.0.2.1")
		b.ReportAllocs()
		for b.Loop() {
			l.Allow(a)
		}
	})
	b.Run("flood of addresses", func(b *testing.B) {
		l, _ := New(10, 20, Options{})
		as := addrs(1 << 20) // ten times MaxClients: constant eviction
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Allow(as[i&(len(as)-1)])
			i++
		}
	})
	b.Run("parallel flood", func(b *testing.B) {
		l, _ := New(10, 20, Options{})
		as := addrs(1 << 20)
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(16) // many goroutines on few cores, as a server has
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 7919
			for pb.Next() {
				l.Allow(as[i&(len(as)-1)])
				i++
			}
		})
	})
	b.Run("parallel one client", func(b *testing.B) {
		l, _ := New(1e6, 100, Options{})
		a := ip("192.0.2.1")
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow(a)
			}
		})
	})
}
