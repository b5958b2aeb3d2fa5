package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/store"
	s3store "github.com/refract-cdn/refract/origin/store/s3"
	"github.com/refract-cdn/refract/origin/store/s3/s3test"
	"github.com/refract-cdn/refract/origin/store/storetest"
)

// bounded is how long a call against a dead or hung server may take with
// the short timeouts these tests configure. It is a hang detector, not a
// performance bound.
const bounded = 15 * time.Second

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	storetest.Run(t, srv.Store(t))
}

func TestConformanceWithPrefix(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	cfg := srv.Config()
	cfg.Prefix = "tenant/a"
	st, err := s3store.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, st)
}

func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	open := func(prefix string) *s3store.Store {
		cfg := srv.Config()
		cfg.Prefix = prefix
		st, err := s3store.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, b, root := open("one"), open("two"), srv.Store(t)
	if _, err := a.Put(ctx, "k", strings.NewReader("a"), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", strings.NewReader("b"), store.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatalf("a key under another prefix blocked a create: %v", err)
	}
	if _, err := b.Stat(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	for want, st := range map[string]*s3store.Store{"a": a, "b": b} {
		body, _, err := store.ReadAll(ctx, st, "k", 10)
		if err != nil || string(body) != want {
			t.Errorf("store %s: k = %q %v", want, body, err)
		}
		objs, err := st.List(ctx, "", "", 0)
		if err != nil || len(objs) != 1 || objs[0].Key != "k" {
			t.Errorf("store %s: List = %+v %v", want, objs, err)
		}
	}
	if err := a.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "k"); err != nil {
		t.Errorf("deleting under one prefix touched the other: %v", err)
	}
	// The unprefixed view sees the layout in the bucket.
	objs, err := root.List(ctx, "", "", 0)
	if err != nil || len(objs) != 1 || objs[0].Key != "two/k" {
		t.Errorf("bucket root List = %+v %v", objs, err)
	}
}

// TestPutInterrupted kills the server while a 12 MB body is on the wire.
// The Put must report ErrUnavailable and leave no object, and the same
// Store must work once the server is back.
func TestPutInterrupted(t *testing.T) {
	// The gated HTTP client cannot take a CA bundle from the environment
	// (the SDK refuses the combination), and this server needs none.
	t.Setenv("AWS_CA_BUNDLE", "")
	srv := s3test.Start(t)
	ctx := context.Background()
	data := make([]byte, 12<<20)
	rand.Read(data)

	for _, tc := range []struct {
		name string
		opts store.PutOptions
		// body wraps the data; gate is non-nil when the stall happens
		// in the reader rather than on the wire.
		body func(g *gate) io.Reader
	}{
		{"on the wire", store.PutOptions{}, nil},
		{"on the wire, conditional", store.PutOptions{IfNoneMatch: true}, nil},
		{"while spooling a stream", store.PutOptions{}, func(g *gate) io.Reader {
			return &gatedReader{r: bytes.NewReader(data), g: g}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "interrupted/" + strings.ReplaceAll(tc.name, " ", "-")
			g := newGate(4 << 20)
			cfg := srv.Config()
			cfg.OpTimeout = 5 * time.Second
			var r io.Reader = bytes.NewReader(data)
			if tc.body != nil {
				r = tc.body(g)
			} else {
				cfg.HTTPClient = &gatedClient{hc: &http.Client{}, g: g}
			}
			st, err := s3store.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := st.Put(ctx, key, r, tc.opts)
				errc <- err
			}()
			select {
			case <-g.stalled:
			case err := <-errc:
				t.Fatalf("Put finished before the gate: %v", err)
			case <-time.After(bounded):
				t.Fatal("the body never reached the gate")
			}
			srv.Stop()
			start := time.Now()
			close(g.release)
			select {
			case err = <-errc:
			case <-time.After(bounded):
				t.Fatal("Put hung after the server died")
			}
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("Put = %v, want ErrUnavailable", err)
			}
			t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)

			srv.Restart()
			if _, err := st.Stat(ctx, key); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after the interrupted Put, Stat = %v, want ErrNotFound", err)
			}
			if _, err := st.Put(ctx, key, bytes.NewReader(data), store.PutOptions{IfNoneMatch: true}); err != nil {
				t.Fatalf("create after restart: %v", err)
			}
			got, _, err := store.ReadAll(ctx, st, key, int64(len(data)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestServerDown checks every call fails with ErrUnavailable, in bounded
// time, against a stopped server (connection refused) and a hung one
// (accepts connections, never answers), and that the same Store recovers.
func TestServerDown(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	cfg := srv.Config()
	// Short, but not so short that a loaded CI machine trips it once
	// the server is back.
	cfg.OpTimeout = 3 * time.Second
	st, err := s3store.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "present", strings.NewReader("here"), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 2<<20)

	calls := map[string]func() error{
		"Get": func() error {
			rc, _, err := st.Get(ctx, "present")
			if err == nil {
				rc.Close()
			}
			return err
		},
		"Stat":    func() error { _, err := st.Stat(ctx, "present"); return err },
		"Put":     func() error { _, err := st.Put(ctx, "new", strings.NewReader("x"), store.PutOptions{}); return err },
		"Put big": func() error { _, err := st.Put(ctx, "new-big", bytes.NewReader(big), store.PutOptions{}); return err },
		"Put create": func() error {
			_, err := st.Put(ctx, "new", strings.NewReader("x"), store.PutOptions{IfNoneMatch: true})
			return err
		},
		"Put IfMatch": func() error {
			_, err := st.Put(ctx, "present", strings.NewReader("x"), store.PutOptions{IfMatch: "abc"})
			return err
		},
		"Delete": func() error { return st.Delete(ctx, "present") },
		"List":   func() error { _, err := st.List(ctx, "", "", 0); return err },
		"Ping":   func() error { return st.Ping(ctx) },
	}
	all := func(t *testing.T) {
		var wg sync.WaitGroup
		for name, call := range calls {
			wg.Go(func() {
				start := time.Now()
				err := call()
				if d := time.Since(start); d > bounded {
					t.Errorf("%s took %v", name, d)
				}
				if !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("%s = %v, want ErrUnavailable", name, err)
				}
			})
		}
		wg.Wait()
	}
	// Writes that failed may still have been applied (a hung server
	// can act on a request after the client gave up), so recovery is
	// checked with a fresh round trip.
	recovered := func(t *testing.T) {
		if _, err := st.Put(ctx, "present", strings.NewReader("back"), store.PutOptions{}); err != nil {
			t.Fatalf("Put after recovery: %v", err)
		}
		body, _, err := store.ReadAll(ctx, st, "present", 100)
		if err != nil || string(body) != "back" {
			t.Errorf("Get after recovery: %q %v", body, err)
		}
	}

	t.Run("stopped", func(t *testing.T) {
		srv.Stop()
		all(t)
		srv.Restart()
		recovered(t)
	})
	t.Run("hung", func(t *testing.T) {
		srv.Pause()
		all(t)
		srv.Resume()
		recovered(t)
	})
}

// TestGetBodyStalls checks a Get whose body stops arriving mid-way fails
// after the read-idle timeout instead of hanging.
func TestGetBodyStalls(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	cfg := srv.Config()
	cfg.ReadIdleTimeout = 2 * time.Second
	st, err := s3store.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Bigger than the socket buffers between the two processes.
	data := make([]byte, 32<<20)
	if _, err := st.Put(ctx, "big", bytes.NewReader(data), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := st.Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	start := time.Now()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("reading a stalled body: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > bounded {
		t.Errorf("the stall was noticed after %v", d)
	}
}

// TestCallerCancel checks the caller's own cancellation is reported as
// such, not as the server being unavailable.
func TestCallerCancel(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	st := srv.Store(t)
	srv.Pause()
	defer srv.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := st.Stat(ctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Stat with an expired caller context: %v", err)
	}
}

// TestSpoolLeavesNoFiles checks a streamed Put's temporary file is gone
// when the Put returns, whether it succeeded or not.
func TestSpoolLeavesNoFiles(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	cfg := srv.Config()
	cfg.TempDir = t.TempDir()
	st, err := s3store.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Different bodies: a losing create of identical bytes may be
	// settled as a success.
	stream := func(b byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(bytes.Repeat([]byte{b}, 3<<20))} }
	if _, err := st.Put(ctx, "s", stream(0), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "s", stream(1), store.PutOptions{IfNoneMatch: true}); !errors.Is(err, store.ErrPrecondition) {
		t.Fatalf("losing create: %v", err)
	}
	if ents, _ := os.ReadDir(cfg.TempDir); len(ents) != 0 {
		t.Errorf("%d files left in TempDir", len(ents))
	}
}

func TestQuotedETags(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	st := srv.Store(t)
	o, err := st.Put(ctx, "q", strings.NewReader("1"), store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(o.ETag, `"`) {
		t.Errorf("ETag %s is quoted", o.ETag)
	}
	// A caller holding the HTTP form of the tag is served too.
	if _, err := st.Put(ctx, "q", strings.NewReader("2"), store.PutOptions{IfMatch: `"` + o.ETag + `"`}); err != nil {
		t.Errorf("IfMatch with a quoted etag: %v", err)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	if err := srv.Store(t).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config()
	cfg.Bucket = "no-such-bucket"
	st, err := s3store.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping of a missing bucket: %v", err)
	}
	cfg.SecretKey = "wrong-secret"
	cfg.Bucket = srv.Bucket
	st, err = s3store.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping with a wrong secret: %v", err)
	}
}

// TestEnvironment configures a Store from the AWS variables only, as a
// refract process started with Server.Env() does.
func TestEnvironment(t *testing.T) {
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	st, err := s3store.New(ctx, s3store.Config{Bucket: srv.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "via-env", strings.NewReader("ok"), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestLargeConditionalLoser checks a create that loses with a body big
// enough for the server to refuse it before reading it all (MinIO then
// resets the connection under the unread rest) is still ErrPrecondition.
func TestLargeConditionalLoser(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := context.Background()
	st := srv.Store(t)
	if _, err := st.Put(ctx, "k", bytes.NewReader(make([]byte, 4<<20)), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	loser := bytes.Repeat([]byte{0xff}, 4<<20)
	for i := 0; i < 20; i++ {
		if _, err := st.Put(ctx, "k", bytes.NewReader(loser), store.PutOptions{IfNoneMatch: true}); !errors.Is(err, store.ErrPrecondition) {
			t.Fatalf("attempt %d: %v, want ErrPrecondition", i, err)
		}
	}
}

// TestConditionalLostAnswer checks a conditional Put whose request or
// response is lost on the way is settled by what the key then holds.
func TestConditionalLostAnswer(t *testing.T) {
	// The fault-injecting client cannot take a CA bundle from the
	// environment.
	t.Setenv("AWS_CA_BUNDLE", "")
	srv := s3test.Start(t)
	ctx := context.Background()
	lc := &lossyClient{hc: &http.Client{}}
	cfg := srv.Config()
	cfg.HTTPClient = lc
	st, err := s3store.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	body := func(s string) io.Reader { return strings.NewReader(s) }

	lc.arm(lostResponse)
	o, err := st.Put(ctx, "create", body("mine"), store.PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("create that landed, answer lost: %v", err)
	}
	if st2, err := st.Stat(ctx, "create"); err != nil || st2.ETag != o.ETag || st2.Size != 4 {
		t.Errorf("settled object %+v, Stat %+v %v", o, st2, err)
	}

	lc.arm(lostRequest)
	if _, err := st.Put(ctx, "create2", body("mine"), store.PutOptions{IfNoneMatch: true}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("create that never left: %v, want ErrUnavailable", err)
	}
	if _, err := st.Stat(ctx, "create2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("create that never left: Stat %v", err)
	}

	lc.arm(lostResponse)
	o2, err := st.Put(ctx, "create", body("replaced"), store.PutOptions{IfMatch: o.ETag})
	if err != nil || o2.ETag == o.ETag {
		t.Fatalf("replace that landed, answer lost: %+v %v", o2, err)
	}

	lc.arm(lostRequest)
	if _, err := st.Put(ctx, "create", body("again"), store.PutOptions{IfMatch: o2.ETag}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("replace that never left: %v, want ErrUnavailable", err)
	}
	if b, _, err := store.ReadAll(ctx, st, "create", 100); err != nil || string(b) != "replaced" {
		t.Errorf("after the lost replace: %q %v", b, err)
	}

	// Someone else's object is there: the lost create lost the race.
	lc.arm(lostRequest)
	if _, err := st.Put(ctx, "create", body("other"), store.PutOptions{IfNoneMatch: true}); !errors.Is(err, store.ErrPrecondition) {
		t.Errorf("lost create of a taken key: %v, want ErrPrecondition", err)
	}

	// Unconditional writes are simply retried.
	lc.arm(lostResponse)
	if _, err := st.Put(ctx, "plain", body("x"), store.PutOptions{}); err != nil {
		t.Errorf("plain put, answer lost: %v", err)
	}
}

const (
	lostResponse = iota + 1 // the server handles the request, the answer is lost
	lostRequest             // the connection breaks before the request is sent
)

// lossyClient breaks the next PUT once, as arm says.
type lossyClient struct {
	hc   *http.Client
	mu   sync.Mutex
	mode int
}

func (c *lossyClient) arm(mode int) {
	c.mu.Lock()
	c.mode = mode
	c.mu.Unlock()
}

func (c *lossyClient) Do(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	mode := 0
	if req.Method == http.MethodPut {
		mode, c.mode = c.mode, 0
	}
	c.mu.Unlock()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	switch mode {
	case lostResponse:
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, reset
	case lostRequest:
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, reset
	}
	return c.hc.Do(req)
}

// gate stalls the first body to pass after bytes until release closes.
type gate struct {
	after   int64
	once    sync.Once
	stalled chan struct{}
	release chan struct{}
}

func newGate(after int64) *gate {
	return &gate{after: after, stalled: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) check(n int64) {
	if n >= g.after {
		g.once.Do(func() {
			close(g.stalled)
			<-g.release
		})
	}
}

// gatedReader is a non-seekable body that stalls at the gate.
type gatedReader struct {
	r io.Reader
	g *gate
	n int64
}

func (r *gatedReader) Read(p []byte) (int, error) {
	r.g.check(r.n)
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}

// gatedClient stalls PUT bodies at the gate as the HTTP transport sends
// them, so the server dies with part of the body received: the SDK reads
// a seekable body once more beforehand to checksum it, which a reader
// gate would catch instead.
type gatedClient struct {
	hc *http.Client
	g  *gate
}

func (c *gatedClient) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.Body != nil {
		req.Body = &gatedBody{ReadCloser: req.Body, g: c.g}
	}
	return c.hc.Do(req)
}

type gatedBody struct {
	io.ReadCloser
	g *gate
	n int64
}

func (b *gatedBody) Read(p []byte) (int, error) {
	b.g.check(b.n)
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
