package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// runResult is one bounded, closed-loop run: conc workers each send the
// next request of a fixed list as soon as their previous one is answered,
// until the list ends or the time is up.
type runResult struct {
	side     string // "refract", "imgproxy", "ceiling"
	conc     int
	round    int
	n        int // answered 200 with the expected format
	bad      int // anything else
	badNote  string
	elapsed  time.Duration
	lats     []time.Duration
	bytes    int64
	cpu      float64 // the server's CPU seconds over the run (0 in-process)
	renders  float64 // Refract: renders counted by refract_renders_total
	misses   float64 // Refract: edge misses
	hits     float64 // Refract: edge hits (must be 0)
	stopped  string  // "count" or "time"
	firstIdx int
}

func (r *runResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

func (r *runResult) pct(p float64) time.Duration {
	if len(r.lats) == 0 {
		return 0
	}
	s := slices.Clone(r.lats)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.999999) - 1 // nearest rank
	return s[min(max(i, 0), len(s)-1)]
}

func (r *runResult) meanBytes() float64 {
	if r.n == 0 {
		return 0
	}
	return float64(r.bytes) / float64(r.n)
}

// do is one request: the body length and whether it is right.
type doFunc func(ctx context.Context, i int) (n int, ok bool, note string)

// closedLoop runs requests first..first+count-1 with conc workers for at
// most dur.
func closedLoop(ctx context.Context, conc, first, count int, dur time.Duration, do doFunc) *runResult {
	r := &runResult{conc: conc, firstIdx: first, stopped: "count"}
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	deadline := start.Add(dur)
	var last time.Time
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if time.Now().After(deadline) {
					mu.Lock()
					r.stopped = "time"
					mu.Unlock()
					return
				}
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				t0 := time.Now()
				n, ok, note := do(ctx, first+i)
				t1 := time.Now()
				mu.Lock()
				if ok {
					r.n++
					r.bytes += int64(n)
					r.lats = append(r.lats, t1.Sub(t0))
				} else if ctx.Err() == nil {
					r.bad++
					r.badNote = note
				}
				if t1.After(last) {
					last = t1
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.elapsed = last.Sub(start)
	return r
}

// httpDo fetches urls[i] and checks the status and the format.
func httpDo(c *http.Client, urls func(i int) string, want string) doFunc {
	return func(ctx context.Context, i int) (int, bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, urls(i), nil)
		if err != nil {
			return 0, false, err.Error()
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, false, err.Error()
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, false, err.Error()
		}
		if resp.StatusCode != http.StatusOK {
			return 0, false, resp.Status + ": " + string(b[:min(len(b), 200)])
		}
		if got := sniff(b); got != want {
			return 0, false, "format " + got + ", want " + want
		}
		return len(b), true, ""
	}
}

// newClient is an HTTP client keeping conc connections alive.
func newClient(conc int) *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: max(conc, 2), DisableCompression: true,
	}}
}
