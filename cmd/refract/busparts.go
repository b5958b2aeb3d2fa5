package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/config"
)

// dialBus connects to the fleet's purge stream. A node that cannot
// reach NATS within 30 s does not start: an origin would accept
// invalidations it cannot deliver, an edge would miss them.
func dialBus(ctx context.Context, c config.NATS, name string) (*bus.JetStream, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	js, err := bus.DialJetStream(ctx, bus.JetStreamConfig{
		URLs: c.URLs, Stream: c.Stream, Subject: c.Subject, MaxAge: c.MaxAge, Replicas: c.Replicas,
		Name: name, CredsFile: c.CredsFile, Token: c.Token, User: c.User, Password: c.Password,
	})
	if err != nil {
		return nil, fmt.Errorf("purge bus (NATS %v): %w", c.URLs, err)
	}
	return js, nil
}

// nodeName names a node to NATS: its role and host.
func nodeName(role string) string {
	host, _ := os.Hostname()
	return "refract-" + role + " " + host
}

// registerBusMetrics exports the bus's counters.
func registerBusMetrics(reg prometheus.Registerer, js *bus.JetStream) {
	counter := func(name, help string, v func(bus.JetStreamStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(js.Stats())) })
	}
	reg.MustRegister(
		counter("refract_bus_published_total", "Purges the stream accepted from this node.", func(s bus.JetStreamStats) uint64 { return s.Published }),
		counter("refract_bus_publish_failures_total", "Purges the stream did not accept in time.", func(s bus.JetStreamStats) uint64 { return s.PublishFailures }),
		counter("refract_bus_applied_total", "Purges applied from the stream.", func(s bus.JetStreamStats) uint64 { return s.Applied }),
		counter("refract_bus_resets_total", "Times the stream no longer held the next purge (unversioned entries dropped).", func(s bus.JetStreamStats) uint64 { return s.Resets }),
		counter("refract_bus_reconnects_total", "Reconnections to NATS.", func(s bus.JetStreamStats) uint64 { return s.Reconnects }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "refract_bus_connected", Help: "1 while connected to NATS."},
			func() float64 {
				if js.Stats().Connected {
					return 1
				}
				return 0
			}),
	)
}

// follower applies the stream's purges to an edge, from the last one it
// applied before (kept in stateDir, or from the start of the stream).
type follower struct {
	js     *bus.JetStream
	cancel context.CancelFunc
	done   chan struct{}
}

// follow starts applying purges and waits, up to wait, until the edge
// has applied every purge published before it started, so that it never
// serves what was purged while it was away. If it cannot catch up in
// time it drops its unversioned entries instead, and goes on following.
func follow(ctx context.Context, js *bus.JetStream, stateDir string, h bus.Handler, wait time.Duration, log *slog.Logger) (*follower, error) {
	var cur bus.Cursor = &bus.MemCursor{}
	if stateDir != "" {
		if err := os.MkdirAll(stateDir, 0o755); err != nil {
			return nil, err
		}
		cur = bus.FileCursor(filepath.Join(stateDir, "purge.cursor"))
	}
	lctx, cancel := context.WithTimeout(ctx, wait)
	last, err := js.LastSeq(lctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("purge bus: %w", err)
	}
	c := &catchUp{Cursor: cur, target: last, done: make(chan struct{})}
	if last == 0 {
		c.finish()
	}
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f := &follower{js: js, cancel: stop, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		if err := js.Follow(fctx, c, h); err != nil && fctx.Err() == nil {
			log.Error("purge bus stopped", "err", err)
		}
	}()
	select {
	case <-c.done:
	case <-time.After(wait):
		log.Warn("purge bus: not caught up in time; dropping unversioned entries", "wait", wait, "stream_last", last)
		h.Reset()
	}
	return f, nil
}

// close stops following and disconnects.
func (f *follower) close() {
	f.cancel()
	<-f.done
	f.js.Close()
}

// catchUp is a cursor that says when it has reached target.
type catchUp struct {
	bus.Cursor
	target uint64
	once   sync.Once
	done   chan struct{}
}

func (c *catchUp) finish() { c.once.Do(func() { close(c.done) }) }

func (c *catchUp) Load() (uint64, error) {
	seq, err := c.Cursor.Load()
	if err == nil && seq >= c.target {
		c.finish()
	}
	return seq, err
}

func (c *catchUp) Save(seq uint64) error {
	err := c.Cursor.Save(seq)
	if seq >= c.target {
		c.finish()
	}
	return err
}
