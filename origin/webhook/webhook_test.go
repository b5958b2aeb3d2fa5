package webhook

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/jobs"
	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/store/localfs"
)

const (
	secret = "abcd"
	body   = `{"notification_type":"upload","public_id":"sample"}`
	stamp  = int64(1700000000)
	// printf '%s' "$body""$stamp""$secret" | sha1sum
	vector = "6739aae925cb229c5a4948b84c1db8a994a4caf1"
)

func TestSignVector(t *testing.T) {
	if got := Sign([]byte(body), stamp, secret); got != vector {
		t.Errorf("Sign = %s, want %s", got, vector)
	}
	sum := sha1.Sum([]byte(body + "1700000000" + secret))
	if got := hex.EncodeToString(sum[:]); got != vector {
		t.Errorf("the vector itself is wrong: %s", got)
	}
	if !Verify([]byte(body), stamp, vector, secret) || !Verify([]byte(body), stamp, strings.ToUpper(vector), secret) {
		t.Error("Verify refused the vector")
	}
	for name, ok := range map[string]bool{
		"body":      Verify([]byte(body+" "), stamp, vector, secret),
		"timestamp": Verify([]byte(body), stamp+1, vector, secret),
		"secret":    Verify([]byte(body), stamp, vector, secret+"x"),
		"empty":     Verify([]byte(body), stamp, "", secret),
	} {
		if ok {
			t.Errorf("Verify accepted a changed %s", name)
		}
	}
}

type received struct {
	method, ctype string
	ts            int64
	valid         bool
	body          string
}

// receiver answers with codes in turn (200 once they run out) and
// records each request as a Cloudinary receiver would check it.
func receiver(t *testing.T, codes ...int) (*httptest.Server, func() []received) {
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
		mu.Lock()
		got = append(got, received{
			method: r.Method, ctype: r.Header.Get("Content-Type"), ts: ts, body: string(b),
			valid: Verify(b, ts, r.Header.Get(HeaderSignature), secret),
		})
		code := http.StatusOK
		if n := len(got); n <= len(codes) {
			code = codes[n-1]
		}
		mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func TestSendSigned(t *testing.T) {
	srv, got := receiver(t)
	s := &Sender{Client: srv.Client(), Now: func() time.Time { return time.Unix(stamp, 0) }}
	if err := s.Send(context.Background(), srv.URL+"/hook", []byte(body), secret); err != nil {
		t.Fatal(err)
	}
	r := got()
	if len(r) != 1 {
		t.Fatalf("%d requests", len(r))
	}
	if r[0].method != http.MethodPost || r[0].ctype != "application/json" || r[0].ts != stamp || r[0].body != body || !r[0].valid {
		t.Errorf("received %+v", r[0])
	}
}

func TestSendFailures(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 8<<20)))
	}))
	defer big.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release) // before slow.Close, which waits for its handler
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()

	ctx := context.Background()
	client := &http.Client{}
	s := &Sender{Client: client, Timeout: 100 * time.Millisecond}

	if err := s.Send(ctx, big.URL, []byte(body), secret); err != nil {
		t.Errorf("a 200 with a big body: %v", err)
	}
	var se *StatusError
	if err := s.Send(ctx, failing.URL, []byte(body), secret); !errors.As(err, &se) || se.Code != 503 || errors.Is(err, jobs.ErrPermanent) {
		t.Errorf("503: %v", err)
	}
	begin := time.Now()
	if err := s.Send(ctx, slow.URL, []byte(body), secret); err == nil || errors.Is(err, jobs.ErrPermanent) {
		t.Errorf("a receiver past the timeout: %v", err)
	} else if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("timeout of 100ms took %v", d)
	}
	if err := s.Send(ctx, goneURL, []byte(body), secret); err == nil || errors.Is(err, jobs.ErrPermanent) {
		t.Errorf("connection refused: %v", err)
	}
	for _, bad := range []string{"ftp://127.0.0.1/x", "/relative", "http://", "http://user:pw@127.0.0.1/", "::"} {
		if err := s.Send(ctx, bad, []byte(body), secret); !errors.Is(err, jobs.ErrPermanent) {
			t.Errorf("Send(%q) = %v, want permanent", bad, err)
		}
	}
	if err := (&Sender{}).Send(ctx, failing.URL, []byte(body), secret); !errors.Is(err, jobs.ErrPermanent) {
		t.Errorf("no client: %v", err)
	}
}

func queue(t *testing.T) (*jobs.Queue, store.Store) {
	t.Helper()
	st, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := jobs.New(st, jobs.Options{
		Poll: 50 * time.Millisecond, MaxAttempts: 5,
		Backoff: func(int) time.Duration { return 5 * time.Millisecond },
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return q, st
}

func drain(t *testing.T, q *jobs.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

func secrets(cloud string) (string, bool) {
	if cloud == "demo" {
		return secret, true
	}
	return "", false
}

func TestDeliveredAfterRetries(t *testing.T) {
	srv, got := receiver(t, 500, 502)
	q, st := queue(t)
	Register(q, &Sender{Client: srv.Client()}, secrets)
	ctx := context.Background()
	if err := Notify(ctx, q, Notification{URL: srv.URL + "/n", Cloud: "demo", Body: json.RawMessage(body)}); err != nil {
		t.Fatal(err)
	}
	drain(t, q)
	r := got()
	if len(r) != 3 {
		t.Fatalf("%d attempts, want 3", len(r))
	}
	for i, x := range r {
		if !x.valid || x.body != body {
			t.Errorf("attempt %d: %+v", i+1, x)
		}
	}
	if left, err := st.List(ctx, jobs.Prefix, "", 0); err != nil || len(left) != 0 {
		t.Errorf("store after delivery: %v %v", left, err)
	}
}

func TestUnknownCloudIsDeadWithoutDelivery(t *testing.T) {
	srv, got := receiver(t)
	q, _ := queue(t)
	Register(q, &Sender{Client: srv.Client()}, secrets)
	ctx := context.Background()
	if err := Notify(ctx, q, Notification{URL: srv.URL, Cloud: "nobody", Body: json.RawMessage(body)}); err != nil {
		t.Fatal(err)
	}
	drain(t, q)
	if n := len(got()); n != 0 {
		t.Errorf("%d deliveries for an unknown cloud", n)
	}
	dead, err := q.Dead(ctx, "", 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("Dead = %+v, %v", dead, err)
	}
	if d := dead[0]; d.Attempts != 1 || d.Kind != KindNotify || !strings.Contains(d.LastError, "unknown cloud") {
		t.Errorf("dead job = %+v", d)
	}
}

func TestNotifyRefusesBadInput(t *testing.T) {
	q, st := queue(t)
	ctx := context.Background()
	for _, n := range []Notification{
		{URL: "javascript:alert(1)", Cloud: "demo", Body: json.RawMessage(body)},
		{URL: "http://127.0.0.1/", Cloud: "demo", Body: json.RawMessage(`{"a":`)},
		{URL: "http://127.0.0.1/", Cloud: "demo"},
	} {
		if err := Notify(ctx, q, n); err == nil {
			t.Errorf("Notify(%+v) accepted", n)
		}
	}
	if left, err := st.List(ctx, jobs.Prefix, "", 0); err != nil || len(left) != 0 {
		t.Errorf("refused notifications were stored: %v %v", left, err)
	}
}
