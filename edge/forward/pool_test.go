package forward

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refract-cdn/refract/shared/clderr"
)

func newTestPool(t *testing.T, addrs []string, opts PoolOptions) *Pool {
	t.Helper()
	opts.Secret = testSecret
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	p, err := NewPool(addrs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// metric is the value of the series name{labels} in p's registry.
func metric(t *testing.T, p *Pool, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := p.opts.Registerer.(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue series
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func startOrigins(t *testing.T, n int) []*fakeOrigin {
	os := make([]*fakeOrigin, n)
	for i := range os {
		os[i] = startOrigin(t)
	}
	return os
}

func (p *Pool) originAt(addr string) *origin {
	for _, o := range p.origins {
		if o.addr == addr {
			return o
		}
	}
	return nil
}

func TestPoolSameDerivativeSameOrigin(t *testing.T) {
	os := startOrigins(t, 3)
	addrs := addrsOf(os)
	shuffled := append([]string(nil), addrs...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	// Two edges, listing the origins in different orders.
	edges := []*Pool{newTestPool(t, addrs, PoolOptions{}), newTestPool(t, shuffled, PoolOptions{})}
	served := map[string]int{}
	for i := range 60 {
		id := "photo_" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		want := orderFor(addrs, id)[0]
		for round := range 2 {
			for e, p := range edges {
				r := mustDerive(t, p, id)
				if r.Status != http.StatusOK || string(r.Body) != want {
					t.Fatalf("%s round %d edge %d: %d from %q, want 200 from %s", id, round, e, r.Status, r.Body, want)
				}
				if r.ContentType != "image/webp" || r.ETag != `"etag"` || r.Version != "42" {
					t.Fatalf("headers not copied: %+v", r)
				}
			}
		}
		served[want]++
	}
	for _, o := range os {
		if served[o.addr] == 0 || o.derives.Load() != int64(4*served[o.addr]) {
			t.Errorf("%s: %d derives for %d ids", o.addr, o.derives.Load(), served[o.addr])
		}
	}
}

func TestPoolFailsOverFromClosedOrigin(t *testing.T) {
	os := startOrigins(t, 3)
	addrs := addrsOf(os)
	// Never ejected here: every request tries the dead origin first.
	p := newTestPool(t, addrs, PoolOptions{EjectAfter: 1000})
	dead := os[0]
	dead.stop()
	ids := idsFirstOn(addrs, dead.addr, 10, "img")
	for _, id := range ids {
		r := mustDerive(t, p, id)
		if want := orderFor(addrs, id)[1]; r.Status != http.StatusOK || string(r.Body) != want {
			t.Fatalf("%s: %d from %q, want 200 from the next in order, %s", id, r.Status, r.Body, want)
		}
	}
	if got := metric(t, p, "refract_edge_origin_failovers_total"); got != float64(len(ids)) {
		t.Errorf("failovers = %v, want %d", got, len(ids))
	}
	if got := metric(t, p, "refract_edge_origin_requests_total", "origin", dead.addr, "outcome", "transport"); got != float64(len(ids)) {
		t.Errorf("transport failures on the dead origin = %v, want %d", got, len(ids))
	}
}

func TestPoolEjectsAfterFailures(t *testing.T) {
	os := startOrigins(t, 2)
	addrs := addrsOf(os)
	bad := os[1]
	bad.gate.set(modeRefuse)
	// No health checks, and a cool-down longer than the test.
	p := newTestPool(t, addrs, PoolOptions{EjectAfter: 3, EjectFor: time.Hour})
	ids := idsFirstOn(addrs, bad.addr, 13, "e")
	for i, id := range ids {
		if i == 3 {
			if p.originAt(bad.addr).admitted(time.Now().UnixNano()) {
				t.Fatal("still admitted after three failures")
			}
			bad.gate.accepted.Store(0)
		}
		if r := mustDerive(t, p, id); string(r.Body) != os[0].addr {
			t.Fatalf("%s: served by %q", id, r.Body)
		}
	}
	if n := bad.gate.accepted.Load(); n != 0 {
		t.Errorf("ejected origin got %d connections", n)
	}
	if got := metric(t, p, "refract_edge_origin_failovers_total"); got != 3 {
		t.Errorf("failovers = %v, want 3: ejected, it is not even tried", got)
	}
	if up, down := metric(t, p, "refract_edge_origin_up", "origin", os[0].addr), metric(t, p, "refract_edge_origin_up", "origin", bad.addr); up != 1 || down != 0 {
		t.Errorf("up = %v for the good origin, %v for the ejected one", up, down)
	}
}

func TestPoolHealthCheckReadmits(t *testing.T) {
	os := startOrigins(t, 2)
	addrs := addrsOf(os)
	bad := os[1]
	bad.gate.set(modeRefuse)
	p := newTestPool(t, addrs, PoolOptions{HealthInterval: 50 * time.Millisecond, EjectFor: time.Hour, Timeout: 5 * time.Second})
	p.Start(context.Background())
	p.Start(context.Background()) // no second loop
	o := p.originAt(bad.addr)
	// Checks alone eject it, before any request.
	eventually(t, "health checks eject the dead origin", func() bool { return !o.admitted(time.Now().UnixNano()) })
	ids := idsFirstOn(addrs, bad.addr, 5, "h")
	for _, id := range ids {
		if r := mustDerive(t, p, id); string(r.Body) != os[0].addr {
			t.Fatalf("%s: served by %q while its origin is down", id, r.Body)
		}
	}
	if n := bad.derives.Load(); n != 0 {
		t.Fatalf("dead origin served %d", n)
	}
	bad.gate.set(modeUp)
	// Only a check can end an ejection of an hour.
	eventually(t, "a health check re-admits the origin", func() bool { return o.admitted(time.Now().UnixNano()) })
	if bad.heads.Load() == 0 {
		t.Error("re-admitted without a check answering")
	}
	for _, id := range ids {
		if r := mustDerive(t, p, id); string(r.Body) != bad.addr {
			t.Fatalf("%s: served by %q after its origin came back", id, r.Body)
		}
	}
	p.Close()
	p.Close()
	heads := bad.heads.Load()
	time.Sleep(200 * time.Millisecond)
	if bad.heads.Load() != heads {
		t.Error("health checks go on after Close")
	}
}

func TestPoolHangingOriginTimesOut(t *testing.T) {
	os := startOrigins(t, 2)
	addrs := addrsOf(os)
	hung := os[1]
	hung.gate.set(modeHang)
	p := newTestPool(t, addrs, PoolOptions{Timeout: time.Second, EjectAfter: 1000})
	ids := idsFirstOn(addrs, hung.addr, 1, "t")
	for _, id := range ids {
		if r := mustDerive(t, p, id); r.Status != http.StatusOK || string(r.Body) != os[0].addr {
			t.Fatalf("%s: %d from %q", id, r.Status, r.Body)
		}
	}
	if got := metric(t, p, "refract_edge_origin_requests_total", "origin", hung.addr, "outcome", "timeout"); got != float64(len(ids)) {
		t.Errorf("timeouts = %v, want %d", got, len(ids))
	}
}

func TestPoolFinalAnswersAreNotFailedOver(t *testing.T) {
	os := startOrigins(t, 3)
	addrs := addrsOf(os)
	p := newTestPool(t, addrs, PoolOptions{})
	id := "missing_1"
	r := mustDerive(t, p, id)
	if r.Status != http.StatusNotFound || r.Error != "Resource not found - missing_1" {
		t.Fatalf("got %d %q", r.Status, r.Error)
	}
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusInternalServerError} {
		for _, o := range os {
			o.status.Store(int32(status))
		}
		if r := mustDerive(t, p, id); r.Status != status {
			t.Fatalf("got %d, want %d", r.Status, status)
		}
	}
	first := orderFor(addrs, id)[0]
	for _, o := range os {
		want := int64(0)
		if o.addr == first {
			want = 4
		}
		if got := o.derives.Load(); got != want {
			t.Errorf("%s was asked %d times, want %d: final answers do not fail over", o.addr, got, want)
		}
	}
	if got := metric(t, p, "refract_edge_origin_failovers_total"); got != 0 {
		t.Errorf("failovers = %v", got)
	}
}

func TestPoolBusyAndUnavailableFailOver(t *testing.T) {
	os := startOrigins(t, 3)
	addrs := addrsOf(os)
	p := newTestPool(t, addrs, PoolOptions{EjectAfter: 2, EjectFor: time.Hour})
	id := idsFirstOn(addrs, os[0].addr, 1, "b")[0]
	second := orderFor(addrs, id)[1]

	os[0].status.Store(http.StatusTooManyRequests)
	for range 3 {
		if r := mustDerive(t, p, id); r.Status != http.StatusOK || string(r.Body) != second {
			t.Fatalf("busy: %d from %q, want 200 from %s", r.Status, r.Body, second)
		}
	}
	if !p.originAt(os[0].addr).admitted(time.Now().UnixNano()) {
		t.Fatal("a busy origin is alive, not ejected")
	}

	os[0].status.Store(http.StatusServiceUnavailable)
	for range 2 {
		if r := mustDerive(t, p, id); string(r.Body) != second {
			t.Fatalf("unavailable: served by %q", r.Body)
		}
	}
	if p.originAt(os[0].addr).admitted(time.Now().UnixNano()) {
		t.Fatal("two 503s did not eject")
	}
	before := os[0].derives.Load()
	mustDerive(t, p, id)
	if os[0].derives.Load() != before {
		t.Error("ejected origin still asked first")
	}
}

func TestPoolAllDown(t *testing.T) {
	os := startOrigins(t, 3)
	addrs := addrsOf(os)
	p := newTestPool(t, addrs, PoolOptions{EjectAfter: 1, EjectFor: time.Hour})

	// Every origin answers 503: the origins' answer is passed on.
	for _, o := range os {
		o.status.Store(http.StatusServiceUnavailable)
	}
	r := mustDerive(t, p, "x")
	if r.Status != http.StatusServiceUnavailable || !strings.HasPrefix(r.Error, "status 503") {
		t.Fatalf("got %d %q", r.Status, r.Error)
	}
	// All ejected now; they are still tried, in order, rather than none.
	for _, o := range os {
		o.status.Store(0)
	}
	if r := mustDerive(t, p, "x"); string(r.Body) != orderFor(addrs, "x")[0] {
		t.Fatalf("with all ejected, served by %q", r.Body)
	}

	for _, o := range os {
		o.stop()
	}
	_, err := p.Derive(spec("y"))
	if clderr.Status(err) != http.StatusBadGateway || clderr.Message(err) != "Origin unavailable" {
		t.Fatalf("got %v (%d)", err, clderr.Status(err))
	}
	for _, a := range addrs {
		_, port, _ := strings.Cut(a, ":")
		if strings.Contains(err.Error(), port) || strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("error %q names an origin", err)
		}
	}
}

func TestNewSingleOrigin(t *testing.T) {
	o := startOrigin(t)
	c := New(o.addr, testSecret, 5*time.Second)
	defer c.Close()
	if r := mustDerive(t, c, "one"); r.Status != http.StatusOK || string(r.Body) != o.addr {
		t.Fatalf("got %d %q", r.Status, r.Body)
	}
	bad := New(o.addr, []byte("wrong"), 5*time.Second)
	if r := mustDerive(t, bad, "one"); r.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong secret got %d", r.Status)
	}
	o.stop()
	if _, err := c.Derive(spec("one")); clderr.Status(err) != http.StatusBadGateway {
		t.Fatalf("origin down: %v", err)
	}
}

func TestNewPoolRefusesBadConfig(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, addrs := range [][]string{nil, {""}, {"no-port"}, {"a:1", "a:1"}} {
		if _, err := NewPool(addrs, PoolOptions{}); err == nil {
			t.Errorf("%q accepted", addrs)
		}
	}
	if _, err := NewPool([]string{"a:1"}, PoolOptions{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	// A second pool on one registry is an error, not a panic.
	if _, err := NewPool([]string{"a:1"}, PoolOptions{Registerer: reg}); err == nil {
		t.Error("duplicate metrics accepted")
	}
}

// BenchmarkCandidates is the failover order Derive uses, one origin
// ejected, over five.
func BenchmarkCandidates(b *testing.B) {
	p := newPool(names(5), PoolOptions{}.withDefaults())
	p.origins[2].ejectedUntil.Store(time.Now().Add(time.Hour).UnixNano())
	s := benchSpec()
	var order [maxAttempts]int
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n = p.candidates(routeKey(&s), time.Now().UnixNano(), &order)
	}
	if n != maxAttempts {
		b.Fatal(n)
	}
}
