// Package ops is the operations listener every node runs: Prometheus
// metrics on /metrics, liveness on /healthz and readiness on /readyz.
package ops

import (
	"context"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is a readiness probe of one dependency.
type Check func(ctx context.Context) error

// Ops holds a node's registry and readiness state.
type Ops struct {
	Registry *prometheus.Registry
	ready    atomic.Bool
	mu       sync.Mutex
	checks   map[string]Check
}

// New returns an Ops with Go runtime and process metrics registered.
func New() *Ops {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Ops{Registry: reg, checks: map[string]Check{}}
}

// AddCheck registers a readiness check.
func (o *Ops) AddCheck(name string, c Check) {
	o.mu.Lock()
	o.checks[name] = c
	o.mu.Unlock()
}

// SetReady marks the node as serving (or draining, with false).
func (o *Ops) SetReady(v bool) { o.ready.Store(v) }

// Handler serves the three endpoints.
func (o *Ops) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	// Profiles, for "where does the time go" on a live node. The ops
	// listener is private (loopback by default), like the metrics.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !o.ready.Load() {
			http.Error(w, "not ready: starting or draining", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		o.mu.Lock()
		checks := make(map[string]Check, len(o.checks))
		for k, v := range o.checks {
			checks[k] = v
		}
		o.mu.Unlock()
		for name, c := range checks {
			if err := c(ctx); err != nil {
				http.Error(w, "not ready: "+name+": "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}
