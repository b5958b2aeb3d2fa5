package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/store/localfs"
)

// wait bounds every wait in these tests: generous, so a loaded machine
// does not fail them, yet far below the test timeout.
const wait = 5 * time.Second

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func opts(o Options) Options {
	if o.Poll == 0 {
		o.Poll = 50 * time.Millisecond
	}
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return 5 * time.Millisecond }
	}
	o.Log = quiet()
	return o
}

// start runs q until the returned stop is called (or the test ends); stop
// returns once Run has.
func start(t *testing.T, q *Queue) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(wait):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func drain(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := q.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

func keys(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	objs, err := st.List(context.Background(), prefix, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

func readJob(t *testing.T, st store.Store, key string) Job {
	t.Helper()
	body, _, err := store.ReadAll(context.Background(), st, key, maxJobSize)
	if err != nil {
		t.Fatal(err)
	}
	var j Job
	if err := json.Unmarshal(body, &j); err != nil {
		t.Fatal(err)
	}
	return j
}

func metric(t *testing.T, reg *prometheus.Registry, name, kind string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := kind == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					match = true
				}
			}
			if !match {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func TestKeyLayout(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	k := readyKey(1712345678901, id)
	if k != "jobs/ready/001712345678901-"+id+".json" {
		t.Errorf("readyKey = %q", k)
	}
	due, gotID, ok := parseReady(k)
	if !ok || gotID != id || due.UnixMilli() != 1712345678901 {
		t.Errorf("parseReady(%q) = %v %q %v", k, due, gotID, ok)
	}
	for _, bad := range []string{
		"jobs/ready/x", "jobs/dead/" + id + ".json", "jobs/ready/001712345678901-" + id,
		"jobs/ready/00171234567890x-" + id + ".json", "jobs/ready/001712345678901-" + strings.ToUpper(id) + ".json",
	} {
		if _, _, ok := parseReady(bad); ok {
			t.Errorf("parseReady(%q) accepted", bad)
		}
	}
	if !store.ValidKey(k) || !store.ValidKey(deadKey(id)) {
		t.Error("keys not valid store keys")
	}
	if got := ceilMs(time.UnixMilli(5).Add(time.Microsecond)); got != 6 {
		t.Errorf("ceilMs rounds down: %d", got)
	}
	if got := ceilMs(time.UnixMilli(5)); got != 5 {
		t.Errorf("ceilMs of a whole millisecond: %d", got)
	}
}

func TestDefaultBackoff(t *testing.T) {
	for a, want := range map[int]time.Duration{1: time.Second, 3: 4 * time.Second, 12: backoffCap, 1000: backoffCap} {
		got := DefaultBackoff(a)
		if got < want/2 || got > want {
			t.Errorf("DefaultBackoff(%d) = %v, want in [%v, %v]", a, got, want/2, want)
		}
	}
}

func TestRunsOnceAndIsDeleted(t *testing.T) {
	st := newStore(t)
	reg := prometheus.NewRegistry()
	// A poll far longer than the test: only Enqueue's wake-up can start
	// the second job.
	q := New(st, opts(Options{Poll: time.Hour, Registerer: reg}))
	got := make(chan Job, 4)
	q.Handle("echo", func(ctx context.Context, j Job) error { got <- j; return nil })
	start(t, q)

	for i, payload := range []string{"first", "second"} {
		if err := q.Enqueue(context.Background(), "echo", map[string]string{"v": payload}); err != nil {
			t.Fatal(err)
		}
		select {
		case j := <-got:
			var p map[string]string
			if err := json.Unmarshal(j.Payload, &p); err != nil || p["v"] != payload {
				t.Errorf("job %d payload %s", i, j.Payload)
			}
			if j.Attempts != 1 || j.Kind != "echo" || len(j.ID) != idLen || j.Created.IsZero() {
				t.Errorf("job %d = %+v", i, j)
			}
		case <-time.After(wait):
			t.Fatalf("job %d not started (wake-up lost?)", i)
		}
	}
	drain(t, q)
	select {
	case j := <-got:
		t.Errorf("job %s ran twice", j.ID)
	default:
	}
	if k := keys(t, st, Prefix); len(k) != 0 {
		t.Errorf("left in the store: %q", k)
	}
	if n := metric(t, reg, "refract_jobs_enqueued_total", "echo"); n != 2 {
		t.Errorf("enqueued = %v", n)
	}
	if n := metric(t, reg, "refract_jobs_succeeded_total", "echo"); n != 2 {
		t.Errorf("succeeded = %v", n)
	}
	if n := metric(t, reg, "refract_jobs_in_flight", ""); n != 0 {
		t.Errorf("in flight after drain = %v", n)
	}
}

func TestRetriesWithBackoffThenSucceeds(t *testing.T) {
	st := newStore(t)
	const delay = 20 * time.Millisecond
	var mu sync.Mutex
	var backoffs []int
	q := New(st, opts(Options{Backoff: func(a int) time.Duration {
		mu.Lock()
		backoffs = append(backoffs, a)
		mu.Unlock()
		return delay
	}}))
	var attempts []int
	var gaps []time.Duration
	var lastEnd time.Time
	q.Handle("flaky", func(ctx context.Context, j Job) error {
		mu.Lock()
		defer mu.Unlock()
		if !lastEnd.IsZero() {
			gaps = append(gaps, time.Since(lastEnd))
		}
		attempts = append(attempts, j.Attempts)
		lastEnd = time.Now()
		if j.Attempts < 3 {
			return errors.New("try again")
		}
		if j.LastError != "try again" {
			t.Errorf("LastError = %q", j.LastError)
		}
		return nil
	})
	if err := q.Enqueue(context.Background(), "flaky", 1); err != nil {
		t.Fatal(err)
	}
	start(t, q)
	drain(t, q)

	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 3 || attempts[0] != 1 || attempts[2] != 3 {
		t.Errorf("attempts = %v", attempts)
	}
	if len(backoffs) != 2 || backoffs[0] != 1 || backoffs[1] != 2 {
		t.Errorf("Backoff called with %v", backoffs)
	}
	for _, g := range gaps {
		if g < delay {
			t.Errorf("retried after %v, before the %v backoff", g, delay)
		}
	}
	if k := keys(t, st, Prefix); len(k) != 0 {
		t.Errorf("left in the store: %q", k)
	}
}

func TestDeadLetterAfterMaxAttempts(t *testing.T) {
	st := newStore(t)
	reg := prometheus.NewRegistry()
	q := New(st, opts(Options{MaxAttempts: 3, Registerer: reg}))
	var calls atomic.Int32
	q.Handle("doomed", func(ctx context.Context, j Job) error {
		calls.Add(1)
		return errors.New("boom")
	})
	if err := q.Enqueue(context.Background(), "doomed", "p"); err != nil {
		t.Fatal(err)
	}
	start(t, q)
	drain(t, q)

	if n := calls.Load(); n != 3 {
		t.Errorf("handler ran %d times, want 3", n)
	}
	dead, err := q.Dead(context.Background(), "", 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("Dead = %+v, %v", dead, err)
	}
	if d := dead[0]; d.Attempts != 3 || d.LastError != "boom" || d.Kind != "doomed" || string(d.Payload) != `"p"` {
		t.Errorf("dead job = %+v", d)
	}
	if k := keys(t, st, Prefix); len(k) != 1 || k[0] != deadKey(dead[0].ID) {
		t.Errorf("store holds %q", k)
	}
	if n := metric(t, reg, "refract_jobs_failed_total", "doomed"); n != 3 {
		t.Errorf("failed = %v", n)
	}
	if n := metric(t, reg, "refract_jobs_dead_total", "doomed"); n != 1 {
		t.Errorf("dead = %v", n)
	}
}

func TestPermanentAndPanicDieAtOnce(t *testing.T) {
	st := newStore(t)
	q := New(st, opts(Options{MaxAttempts: 5}))
	var calls atomic.Int32
	q.Handle("perm", func(ctx context.Context, j Job) error {
		calls.Add(1)
		return Permanent(errors.New("no such cloud"))
	})
	q.Handle("panics", func(ctx context.Context, j Job) error {
		calls.Add(1)
		var m map[string]int
		m["x"] = 1 // a handler bug must not take the node down
		return nil
	})
	ctx := context.Background()
	if err := q.Enqueue(ctx, "perm", nil); err != nil {
		t.Fatal(err)
	}
	start(t, q)
	drain(t, q)
	if n := calls.Load(); n != 1 {
		t.Errorf("permanent failure ran %d times", n)
	}
	dead, err := q.Dead(ctx, "", 10)
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].LastError, "no such cloud") {
		t.Fatalf("Dead = %+v, %v", dead, err)
	}

	if err := q.Enqueue(ctx, "panics", nil); err != nil {
		t.Fatal(err)
	}
	drain(t, q)
	if n := calls.Load(); n != 6 {
		t.Errorf("panicking handler: %d calls in all, want 1+5", n)
	}
	more, err := q.Dead(ctx, dead[0].ID, 10)
	if err != nil || len(more) != 1 || !strings.Contains(more[0].LastError, "panic") {
		t.Errorf("Dead after %s = %+v, %v", dead[0].ID, more, err)
	}
}

func TestCrashedJobRunsAgainAfterLease(t *testing.T) {
	st := newStore(t)
	const lease = time.Second
	q1 := New(st, opts(Options{Lease: lease}))
	started := make(chan struct{})
	q1.Handle("slow", func(ctx context.Context, j Job) error {
		close(started)
		<-ctx.Done() // a node dying mid-job
		return ctx.Err()
	})
	if err := q1.Enqueue(context.Background(), "slow", "x"); err != nil {
		t.Fatal(err)
	}
	stop1 := start(t, q1)
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("job never started")
	}
	stop1()

	ready := keys(t, st, readyPrefix)
	if len(ready) != 1 {
		t.Fatalf("after the crash ready holds %q", ready)
	}
	left := readJob(t, st, ready[0])
	if left.Attempts != 1 {
		t.Errorf("crashed job = %+v", left)
	}

	q2 := New(st, opts(Options{Lease: lease}))
	ran := make(chan Job, 2)
	q2.Handle("slow", func(ctx context.Context, j Job) error {
		ran <- j
		if now := time.Now(); now.Before(left.NotBefore) {
			t.Errorf("taken at %v, before the lease ended at %v", now, left.NotBefore)
		}
		return nil
	})
	start(t, q2)
	drain(t, q2)
	select {
	case j := <-ran:
		if j.ID != left.ID || j.Attempts != 2 {
			t.Errorf("rerun = %+v", j)
		}
	default:
		t.Fatal("job drained without running again")
	}
	if len(ran) != 0 {
		t.Error("job ran more than once after the crash")
	}
}

func TestCrashOnLastAttemptIsDead(t *testing.T) {
	st := newStore(t)
	q1 := New(st, opts(Options{Lease: time.Second, MaxAttempts: 1}))
	started := make(chan struct{})
	q1.Handle("k", func(ctx context.Context, j Job) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	if err := q1.Enqueue(context.Background(), "k", nil); err != nil {
		t.Fatal(err)
	}
	stop1 := start(t, q1)
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("job never started")
	}
	stop1()

	q2 := New(st, opts(Options{Lease: time.Second, MaxAttempts: 1}))
	var calls atomic.Int32
	q2.Handle("k", func(ctx context.Context, j Job) error { calls.Add(1); return nil })
	start(t, q2)
	drain(t, q2)
	dead, err := q2.Dead(context.Background(), "", 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("Dead = %+v, %v", dead, err)
	}
	if d := dead[0]; d.Attempts != 2 || !strings.Contains(d.LastError, "lease ran out") {
		t.Errorf("dead job = %+v", d)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("a job out of attempts ran %d more times", n)
	}
}

func TestTwoQueuesRunEachJobOnce(t *testing.T) {
	st := newStore(t)
	const n = 60
	var counts [n]atomic.Int32
	var maxes [2]atomic.Int32
	queues := make([]*Queue, 2)
	for qi := range queues {
		// A long lease: in this test no job may be taken over.
		q := New(st, opts(Options{Workers: 3, Lease: time.Minute, Poll: 20 * time.Millisecond}))
		var cur atomic.Int32
		q.Handle("count", func(ctx context.Context, j Job) error {
			c := cur.Add(1)
			defer cur.Add(-1)
			for {
				m := maxes[qi].Load()
				if c <= m || maxes[qi].CompareAndSwap(m, c) {
					break
				}
			}
			var i int
			if err := json.Unmarshal(j.Payload, &i); err != nil || i < 0 || i >= n {
				return Permanent(errors.New("bad payload"))
			}
			counts[i].Add(1)
			time.Sleep(time.Millisecond)
			return nil
		})
		queues[qi] = q
	}
	for _, q := range queues {
		start(t, q)
	}
	for i := 0; i < n; i++ {
		if err := queues[i%2].Enqueue(context.Background(), "count", i); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, queues[0])
	for i := range counts {
		if c := counts[i].Load(); c != 1 {
			t.Errorf("job %d ran %d times", i, c)
		}
	}
	for qi := range maxes {
		if m := maxes[qi].Load(); m > 3 {
			t.Errorf("queue %d ran %d jobs at once, Workers is 3", qi, m)
		}
	}
	if k := keys(t, st, Prefix); len(k) != 0 {
		t.Errorf("left in the store: %q", k)
	}
}

func TestConcurrencyBound(t *testing.T) {
	st := newStore(t)
	const workers, n = 3, 12
	q := New(st, opts(Options{Workers: workers}))
	var cur, peak atomic.Int32
	full := make(chan struct{})
	var fullOnce sync.Once
	q.Handle("k", func(ctx context.Context, j Job) error {
		c := cur.Add(1)
		defer cur.Add(-1)
		for {
			m := peak.Load()
			if c <= m || peak.CompareAndSwap(m, c) {
				break
			}
		}
		if c >= workers {
			fullOnce.Do(func() { close(full) })
		}
		// Hold the first jobs until all workers are busy, so the test
		// sees the pool full rather than hoping to.
		select {
		case <-full:
		case <-time.After(wait / 2):
		}
		return nil
	})
	for i := 0; i < n; i++ {
		if err := q.Enqueue(context.Background(), "k", i); err != nil {
			t.Fatal(err)
		}
	}
	start(t, q)
	drain(t, q)
	if p := peak.Load(); p != workers {
		t.Errorf("peak concurrency %d, want exactly Workers=%d", p, workers)
	}
}

func TestUnhandledKindIsLeftAlone(t *testing.T) {
	st := newStore(t)
	q := New(st, opts(Options{}))
	if err := q.Enqueue(context.Background(), "elsewhere", nil); err != nil {
		t.Fatal(err)
	}
	start(t, q)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := q.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Drain = %v, want a timeout", err)
	}
	ready := keys(t, st, readyPrefix)
	if len(ready) != 1 {
		t.Fatalf("ready = %q", ready)
	}
	if j := readJob(t, st, ready[0]); j.Attempts != 0 {
		t.Errorf("unhandled job was claimed: %+v", j)
	}
}

func TestRunTwiceAndBadEnqueue(t *testing.T) {
	q := New(newStore(t), opts(Options{}))
	start(t, q)
	deadline := time.Now().Add(wait)
	for !q.running.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := q.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v", err)
	}
	if err := q.Enqueue(context.Background(), "", nil); err == nil {
		t.Error("empty kind accepted")
	}
	if err := q.Enqueue(context.Background(), "k", func() {}); err == nil {
		t.Error("unmarshallable payload accepted")
	}
	if err := q.Enqueue(context.Background(), "k", strings.Repeat("x", maxJobSize)); err == nil {
		t.Error("oversized job accepted")
	}
}
