package bus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/refract-cdn/refract/shared/bus/natstest"
)

func dial(t *testing.T, srv *natstest.Server, name string, mod ...func(*JetStreamConfig)) *JetStream {
	t.Helper()
	cfg := JetStreamConfig{URLs: []string{srv.URL()}, Name: name}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := DialJetStream(ctx, cfg)
	if err != nil {
		t.Fatalf("DialJetStream: %v\n%s", err, srv.Log())
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func publish(t *testing.T, j *JetStream, ids ...string) {
	t.Helper()
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := j.Publish(ctx, Purge{Cloud: "demo", ResourceType: "image", Type: "upload", PublicID: id, At: time.Now()})
		cancel()
		if err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
}

func ids(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return s
}

// recorder is a Handler that writes down what it is told, "RESET" for a
// Reset.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) handler() Handler {
	return Handler{
		Purge: func(p Purge) { r.add(p.PublicID) },
		Reset: func() { r.add("RESET") },
	}
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// wait waits until r has n events, and returns them.
func (r *recorder) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.get()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events, want %d: %v", len(got), n, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// follow runs j.Follow in the background until the test ends or the
// returned stop is called.
func follow(t *testing.T, j *JetStream, cur Cursor, h Handler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Follow(ctx, cur, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
					t.Errorf("Follow returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Follow did not return 10s after its ctx was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestJetStreamPublishSubscribe(t *testing.T) {
	srv := natstest.Start(t)
	pub := dial(t, srv, "origin")
	sub := dial(t, srv, "edge")

	got := make(chan Purge, 100)
	cancel := sub.Subscribe(func(p Purge) { got <- p })
	want := Purge{Cloud: "demo", ResourceType: "image", Type: "upload", PublicID: "a/b c", PublicIDs: []string{"d", "e/f"},
		URL: "https://img.example.com/image/upload/a.jpg", Soft: true, At: time.Now().Round(0).UTC()}
	if err := pub.Publish(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if !reflect.DeepEqual(p, want) {
			t.Errorf("got %+v, want %+v", p, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no purge 5s after Publish")
	}

	// Latency from Publish to delivery, one at a time.
	var lat []time.Duration
	for i := range 50 {
		start := time.Now()
		publish(t, pub, fmt.Sprint(i))
		select {
		case p := <-got:
			lat = append(lat, time.Since(start))
			if p.PublicID != fmt.Sprint(i) {
				t.Fatalf("got %q, want %q", p.PublicID, fmt.Sprint(i))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("purge %d not delivered after 5s", i)
		}
	}
	checkLatency(t, "publish→delivery", lat)

	cancel()
	publish(t, pub, "after-cancel")
	select {
	case p := <-got:
		t.Errorf("got %q after cancel", p.PublicID)
	case <-time.After(200 * time.Millisecond):
	}
	if s := pub.Stats(); s.Published != 52 || s.PublishFailures != 0 || !s.Connected {
		t.Errorf("publisher stats %+v", s)
	}
	if s := sub.Stats(); s.Applied != 51 || s.Resets != 0 || s.Skipped != 0 {
		t.Errorf("subscriber stats %+v", s)
	}
}

// A follower whose connection closes in the middle of a run of purges
// resumes from its cursor with a new connection: every purge once, in
// order.
func TestJetStreamFollowResumesAfterClose(t *testing.T) {
	srv := natstest.Start(t)
	pub := dial(t, srv, "origin")
	cur := FileCursor(filepath.Join(t.TempDir(), "cursor"))
	var r recorder

	edge1 := dial(t, srv, "edge-1")
	follow(t, edge1, cur, r.handler())
	all := ids("p", 40)
	publish(t, pub, all[:10]...)
	r.wait(t, 5)
	edge1.Close() // its Follow returns ErrClosed
	publish(t, pub, all[10:]...)

	edge2 := dial(t, srv, "edge-2")
	follow(t, edge2, cur, r.handler())
	got := r.wait(t, len(all))
	time.Sleep(100 * time.Millisecond) // room for a duplicate to show
	if got = r.get(); !slices.Equal(got, all) {
		t.Errorf("got %v\nwant %v", got, all)
	}
	if n, _ := cur.Load(); n != 40 {
		t.Errorf("cursor %d, want 40", n)
	}
	if s := edge2.Stats(); s.Resets != 0 || s.CursorErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A follower resumes after the server restarts, without a Reset: the
// stream and its messages survive in the store.
func TestJetStreamFollowAcrossServerRestart(t *testing.T) {
	srv := natstest.Start(t)
	pub := dial(t, srv, "origin")
	edge := dial(t, srv, "edge")
	var r recorder
	cur := &MemCursor{}
	follow(t, edge, cur, r.handler())

	all := ids("p", 10)
	publish(t, pub, all[:5]...)
	r.wait(t, 5)
	srv.Restart()
	publish(t, pub, all[5:]...) // retried until the publisher reconnects
	r.wait(t, 10)
	time.Sleep(100 * time.Millisecond)
	if got := r.get(); !slices.Equal(got, all) {
		t.Errorf("got %v\nwant %v", got, all)
	}
	s := edge.Stats()
	if s.Resets != 0 || s.Reconnects == 0 || s.Resubscribes == 0 {
		t.Errorf("stats %+v", s)
	}
	t.Logf("edge stats %+v", s)
}

// When the stream no longer holds the purges after a follower's cursor,
// the follower gets one Reset, then the purges the stream holds.
func TestJetStreamFollowTruncated(t *testing.T) {
	srv := natstest.Start(t)
	streamPurge := func(t *testing.T, j *JetStream) {
		s, err := j.js.Stream(context.Background(), j.cfg.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Purge(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		maxMsg int64
		cursor uint64
		setup  func(t *testing.T, j *JetStream)
		want   []string
	}{
		{"purged while away", 0, 1, func(t *testing.T, j *JetStream) {
			publish(t, j, "a", "b", "c")
			streamPurge(t, j)
			publish(t, j, "d", "e")
		}, []string{"RESET", "d", "e"}},
		{"caught up before the purge", 0, 3, func(t *testing.T, j *JetStream) {
			publish(t, j, "a", "b", "c")
			streamPurge(t, j)
			publish(t, j, "d", "e")
		}, []string{"d", "e"}},
		{"purged, nothing since", 0, 1, func(t *testing.T, j *JetStream) {
			publish(t, j, "a", "b", "c")
			streamPurge(t, j)
		}, []string{"RESET"}},
		{"MaxMsgs", 2, 2, func(t *testing.T, j *JetStream) {
			publish(t, j, "a", "b", "c", "d", "e")
		}, []string{"RESET", "d", "e"}},
		{"MaxMsgs, cursor just before the first held", 2, 3, func(t *testing.T, j *JetStream) {
			publish(t, j, "a", "b", "c", "d", "e")
		}, []string{"d", "e"}},
		{"a purge deleted from the middle", 0, 1, func(t *testing.T, j *JetStream) {
			publish(t, j, "a", "b", "c", "d", "e")
			s, err := j.js.Stream(context.Background(), j.cfg.Stream)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteMsg(context.Background(), 3); err != nil {
				t.Fatal(err)
			}
		}, []string{"b", "RESET", "d", "e"}},
		{"zero cursor, stream complete", 0, 0, func(t *testing.T, j *JetStream) {
			publish(t, j, "a", "b")
		}, []string{"a", "b"}},
		{"zero cursor, stream truncated", 2, 0, func(t *testing.T, j *JetStream) {
			publish(t, j, "a", "b", "c")
		}, []string{"RESET", "b", "c"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := fmt.Sprintf("TRUNC_%d", i)
			cfg := func(c *JetStreamConfig) {
				c.Stream, c.Subject, c.MaxMsgs = stream, fmt.Sprintf("trunc.%d", i), tc.maxMsg
			}
			pub := dial(t, srv, "origin", cfg)
			tc.setup(t, pub)
			edge := dial(t, srv, "edge", cfg)
			var r recorder
			cur := &MemCursor{}
			cur.Save(tc.cursor)
			follow(t, edge, cur, r.handler())
			r.wait(t, len(tc.want))
			publish(t, pub, "live")
			want := append(slices.Clone(tc.want), "live")
			r.wait(t, len(want))
			time.Sleep(50 * time.Millisecond)
			if got := r.get(); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// A stream deleted and created again under a follower: its sequences
// start over, so the follower resets and takes all the new one holds.
func TestJetStreamFollowStreamRecreated(t *testing.T) {
	srv := natstest.Start(t)
	pub := dial(t, srv, "origin")
	edge := dial(t, srv, "edge")
	var r recorder
	follow(t, edge, &MemCursor{}, r.handler())
	publish(t, pub, "a", "b", "c")
	r.wait(t, 3)
	if err := pub.js.DeleteStream(context.Background(), pub.cfg.Stream); err != nil {
		t.Fatal(err)
	}
	pub2 := dial(t, srv, "origin-2") // creates the stream again
	publish(t, pub2, "x")
	r.wait(t, 5)
	publish(t, pub2, "y")
	r.wait(t, 6)
	time.Sleep(50 * time.Millisecond)
	if got, want := r.get(), []string{"a", "b", "c", "RESET", "x", "y"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A purge published while the server is down is stored once it is back.
func TestJetStreamPublishDuringOutage(t *testing.T) {
	srv := natstest.Start(t)
	pub := dial(t, srv, "origin")
	srv.Stop()

	done := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		done <- pub.Publish(ctx, Purge{Cloud: "demo", PublicID: "during-outage"})
	}()
	time.Sleep(time.Second)
	select {
	case err := <-done:
		t.Fatalf("Publish returned %v with the server down", err)
	default:
	}
	srv.Restart()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		t.Logf("accepted %v after the call, %d retries", time.Since(start), pub.Stats().PublishRetries)
	case <-time.After(10 * time.Second):
		t.Fatal("Publish not done 10s after the restart")
	}

	// Stored once, whatever the retries.
	edge := dial(t, srv, "edge")
	var r recorder
	follow(t, edge, &MemCursor{}, r.handler())
	r.wait(t, 1)
	publish(t, pub, "next")
	r.wait(t, 2)
	if got := r.get(); !slices.Equal(got, []string{"during-outage", "next"}) {
		t.Errorf("stream holds %v", got)
	}
}

func TestJetStreamPublishServerDown(t *testing.T) {
	srv := natstest.Start(t)
	pub := dial(t, srv, "origin")
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := pub.Publish(ctx, Purge{PublicID: "lost"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish = %v, want a DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Publish took %v with a 500ms ctx", d)
	}
	if s := pub.Stats(); s.PublishFailures != 1 || s.Published != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A message that is not a Purge is skipped, and the ones after it arrive.
func TestJetStreamFollowSkipsUndecodable(t *testing.T) {
	srv := natstest.Start(t)
	pub := dial(t, srv, "origin")
	publish(t, pub, "a")
	if _, err := pub.js.Publish(context.Background(), pub.cfg.Subject, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, "b")
	edge := dial(t, srv, "edge")
	var r recorder
	cur := &MemCursor{}
	follow(t, edge, cur, r.handler())
	r.wait(t, 2)
	if got := r.get(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("got %v", got)
	}
	if n, _ := cur.Load(); n != 3 {
		t.Errorf("cursor %d, want 3", n)
	}
	if s := edge.Stats(); s.Skipped != 1 || s.Applied != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestFileCursor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cursor")
	c := FileCursor(path)
	if n, err := c.Load(); n != 0 || err != nil {
		t.Fatalf("missing file: %d, %v", n, err)
	}
	for _, n := range []uint64{1, 42, 1 << 60} {
		if err := c.Save(n); err != nil {
			t.Fatal(err)
		}
		if got, err := FileCursor(path).Load(); got != n || err != nil {
			t.Errorf("Load after Save(%d) = %d, %v", n, got, err)
		}
	}
	os.WriteFile(path, []byte("garbage"), 0o644)
	if _, err := c.Load(); err == nil {
		t.Error("garbage loaded without an error")
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

// The goal: a purge reaches all of 3 edges well within 150ms
// (p99) of the call. On loopback that leaves the whole budget to the
// edges' own work.
func TestJetStreamFanOutLatency(t *testing.T) {
	srv := natstest.Start(t)
	pub := dial(t, srv, "origin")
	const edges, n = 3, 100
	var mu sync.Mutex
	seen := map[string]int{}
	all := make(chan string, n)
	for i := range edges {
		e := dial(t, srv, fmt.Sprintf("edge-%d", i))
		follow(t, e, &MemCursor{}, Handler{Purge: func(p Purge) {
			mu.Lock()
			seen[p.PublicID]++
			if seen[p.PublicID] == edges {
				all <- p.PublicID
			}
			mu.Unlock()
		}})
	}
	var lat []time.Duration
	for i := range n {
		id := fmt.Sprint(i)
		start := time.Now()
		publish(t, pub, id)
		select {
		case got := <-all:
			if got != id {
				t.Fatalf("got %s, want %s", got, id)
			}
			lat = append(lat, time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatalf("purge %s not on all edges after 5s", id)
		}
	}
	checkLatency(t, fmt.Sprintf("publish→all %d edges", edges), lat)
}

// checkLatency logs the percentiles of lat and fails when delivery is
// not push-like. The goal is p99 < 150ms from the API call; in
// make test the other packages' tests share the two cores, and one stall
// is a p99 of 100 samples, so the test holds p90 to the goal and the
// median far below it (a polling consumer would show its period there).
func checkLatency(t *testing.T, what string, lat []time.Duration) {
	t.Helper()
	slices.Sort(lat)
	q := func(p int) time.Duration { return lat[(len(lat)-1)*p/100] }
	t.Logf("%s over %d purges: p50 %v, p90 %v, p99 %v, max %v", what, len(lat), q(50), q(90), q(99), q(100))
	if q(90) > 150*time.Millisecond || q(50) > 25*time.Millisecond {
		t.Errorf("%s: p50 %v, p90 %v; want p50 < 25ms, p90 < 150ms", what, q(50), q(90))
	}
}

// A follower whose consumer is deleted under it (by an operator, or by
// the server after an inactivity) makes a new one where it was.
func TestJetStreamFollowConsumerDeleted(t *testing.T) {
	srv := natstest.Start(t)
	pub := dial(t, srv, "origin")
	edge := dial(t, srv, "edge")
	var r recorder
	follow(t, edge, &MemCursor{}, r.handler())
	publish(t, pub, "a")
	r.wait(t, 1)

	s, err := pub.js.Stream(context.Background(), pub.cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	names := s.ConsumerNames(context.Background())
	n := 0
	for name := range names.Name() {
		if err := s.DeleteConsumer(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if names.Err() != nil || n != 1 {
		t.Fatalf("deleted %d consumers, err %v", n, names.Err())
	}
	publish(t, pub, "b", "c")
	r.wait(t, 3)
	time.Sleep(50 * time.Millisecond)
	if got := r.get(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("got %v", got)
	}
	t.Logf("edge stats %+v", edge.Stats())
}

// An edge or origin may start before NATS: DialJetStream waits for a
// server until its ctx ends.
func TestDialJetStreamWaitsForServer(t *testing.T) {
	srv := natstest.Start(t)
	srv.Stop()
	cfg := JetStreamConfig{URLs: []string{srv.URL()}}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	j, err := DialJetStream(ctx, cfg)
	cancel()
	if err == nil {
		j.Close()
		t.Fatal("DialJetStream succeeded with no server")
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		j, err := DialJetStream(ctx, cfg)
		if err == nil {
			j.Close()
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("DialJetStream not done 10s after the server started")
	}
}

func TestJetStreamClose(t *testing.T) {
	srv := natstest.Start(t)
	j := dial(t, srv, "edge")
	cancel := j.Subscribe(func(Purge) {})
	followed := make(chan error, 1)
	go func() { followed <- j.Follow(context.Background(), &MemCursor{}, Handler{}) }()
	time.Sleep(100 * time.Millisecond)

	closed := make(chan struct{})
	go func() { j.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close not done after 5s")
	}
	if err := <-followed; !errors.Is(err, ErrClosed) {
		t.Errorf("Follow returned %v, want ErrClosed", err)
	}
	cancel() // returns at once
	if err := j.Follow(context.Background(), &MemCursor{}, Handler{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Follow after Close: %v", err)
	}
	if err := j.Publish(context.Background(), Purge{}); err == nil {
		t.Error("Publish after Close succeeded")
	}
	j.Subscribe(func(Purge) {})() // harmless
}
