// Package usage measures what each cloud uses: storage and asset counts,
// counted from the Store's keys and cached, and renders, counted in memory
// by each node and flushed to its own object so that a report sums them
// across the nodes sharing the Store.
//
// Key layout: usage/<cloud>/<node>.json, one per cloud and node, written
// only by that node: {"cloud", "node", "renders", "updated_at"}. Counters
// are totals since the first render, not per period.
package usage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/store"
)

// nodeFile is one node's counters for one cloud.
type nodeFile struct {
	Cloud     string    `json:"cloud"`
	Node      string    `json:"node"`
	Renders   int64     `json:"renders"`
	UpdatedAt time.Time `json:"updated_at"`
}

func root(cloud string) string { return "usage/" + cloud + "/" }

// Key is where a node's counters for a cloud live.
func Key(cloud, node string) string { return root(cloud) + node + ".json" }

// maxClouds bounds the counters kept in memory: clouds come from
// requests that have already been checked, so this is only a backstop.
const maxClouds = 10000

// Recorder counts renders per cloud for one node. Render is cheap (a
// map read and an atomic add); Flush writes the totals that changed.
// Two processes must not share a node id: each overwrites its own file.
type Recorder struct {
	store store.Store
	node  string
	now   func() time.Time

	mu      sync.RWMutex
	clouds  map[string]*counter
	flushMu sync.Mutex // one flush at a time
	loaded  atomic.Bool
}

type counter struct {
	total   atomic.Int64 // renders since the first, this node
	flushed int64        // the total last written (under flushMu)
}

// NewRecorder returns a recorder for node, which must be one key segment
// of letters, digits, "-", "_" or ".".
func NewRecorder(s store.Store, node string) (*Recorder, error) {
	if !validNode(node) {
		return nil, fmt.Errorf("usage: invalid node id %q", node)
	}
	return &Recorder{store: s, node: node, now: time.Now, clouds: map[string]*counter{}}, nil
}

func validNode(n string) bool {
	if n == "" || len(n) > 100 || n[0] == '.' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (r *Recorder) counter(cloud string) *counter {
	r.mu.RLock()
	c := r.clouds[cloud]
	r.mu.RUnlock()
	if c != nil {
		return c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c = r.clouds[cloud]; c == nil && len(r.clouds) < maxClouds {
		c = &counter{}
		r.clouds[cloud] = c
	}
	return c
}

// Render counts one render for cloud.
func (r *Recorder) Render(cloud string) {
	if r == nil || cloud == "" || cloud == "." || cloud == ".." || strings.Contains(cloud, "/") {
		return // not a name a key can hold; clouds are checked upstream
	}
	if c := r.counter(cloud); c != nil {
		c.total.Add(1)
	}
}

// Renders is this node's total for cloud, flushed or not.
func (r *Recorder) Renders(cloud string) int64 {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	c := r.clouds[cloud]
	r.mu.RUnlock()
	if c == nil {
		return 0
	}
	return c.total.Load()
}

// Load reads this node's flushed totals, so counting survives a restart.
// Renders counted before Load are added to them. Only the first
// successful call loads; later ones do nothing.
func (r *Recorder) Load(ctx context.Context) error {
	if r.loaded.Load() {
		return nil
	}
	if err := r.load(ctx); err != nil {
		return err
	}
	r.loaded.Store(true)
	return nil
}

// load reads every file first and applies them after, so that a failed
// load changes nothing and can be retried.
func (r *Recorder) load(ctx context.Context) error {
	suffix := "/" + r.node + ".json"
	found := map[string]int64{}
	for after := ""; ; {
		objs, err := r.store.List(ctx, "usage/", after, 1000)
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			break
		}
		after = objs[len(objs)-1].Key
		for _, o := range objs {
			if !strings.HasSuffix(o.Key, suffix) {
				continue
			}
			f, err := readFile(ctx, r.store, o.Key)
			if err != nil {
				return err
			}
			if f.Cloud+suffix == o.Key[len("usage/"):] {
				found[f.Cloud] = f.Renders
			}
		}
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	for cloud, n := range found {
		if c := r.counter(cloud); c != nil {
			c.total.Add(n)
			c.flushed += n
		}
	}
	return nil
}

func readFile(ctx context.Context, s store.Store, key string) (nodeFile, error) {
	b, _, err := store.ReadAll(ctx, s, key, 64<<10)
	if err != nil {
		return nodeFile{}, err
	}
	var f nodeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nodeFile{}, fmt.Errorf("usage: corrupt %s: %w", key, err)
	}
	return f, nil
}

// Flush writes the totals that changed since the last flush. It loads
// first if Load has not succeeded yet: writing before that would replace
// the persisted totals with this process's alone.
func (r *Recorder) Flush(ctx context.Context) error {
	if err := r.Load(ctx); err != nil {
		return err
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.RLock()
	clouds := make(map[string]*counter, len(r.clouds))
	for k, c := range r.clouds {
		clouds[k] = c
	}
	r.mu.RUnlock()
	var errs []error
	for cloud, c := range clouds {
		total := c.total.Load()
		if total == c.flushed {
			continue
		}
		b, _ := json.Marshal(nodeFile{Cloud: cloud, Node: r.node, Renders: total, UpdatedAt: r.now().UTC()})
		if _, err := r.store.Put(ctx, Key(cloud, r.node), bytes.NewReader(b), store.PutOptions{ContentType: "application/json"}); err != nil {
			errs = append(errs, err)
			continue
		}
		c.flushed = total
	}
	return errors.Join(errs...)
}

// Run flushes every interval until ctx ends, then flushes once more.
func (r *Recorder) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			r.Flush(fctx)
			cancel()
			return
		case <-t.C:
			r.Flush(ctx)
		}
	}
}

// Report is one cloud's usage.
type Report struct {
	Assets        int64
	Derived       int64
	OriginalBytes int64
	DerivedBytes  int64
	Renders       int64     // all nodes: flushed totals, this node's live
	CountedAt     time.Time // when the storage figures were counted
}

// StorageBytes is originals plus derivatives.
func (r Report) StorageBytes() int64 { return r.OriginalBytes + r.DerivedBytes }

// DefaultTTL is how long a Reporter reuses a cloud's counts.
const DefaultTTL = time.Minute

// Reporter builds reports. Counting storage lists every key of the
// cloud, so each cloud's figures are cached for TTL; this node's renders
// are always live.
type Reporter struct {
	Assets   *asset.Repo
	Recorder *Recorder // may be nil: renders from the flushed files only
	TTL      time.Duration
	Now      func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	rep    Report // without this node's renders
	others int64  // renders of the other nodes
	at     time.Time
}

func (p *Reporter) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Report returns cloud's usage.
func (p *Reporter) Report(ctx context.Context, cloud string) (Report, error) {
	ttl := p.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	p.mu.Lock()
	c, ok := p.cache[cloud]
	p.mu.Unlock()
	if !ok || p.now().Sub(c.at) > ttl {
		var err error
		if c, err = p.count(ctx, cloud); err != nil {
			return Report{}, err
		}
		p.mu.Lock()
		if p.cache == nil {
			p.cache = map[string]cached{}
		}
		p.cache[cloud] = c
		p.mu.Unlock()
	}
	rep := c.rep
	rep.Renders = c.others + p.Recorder.Renders(cloud)
	return rep, nil
}

func (p *Reporter) count(ctx context.Context, cloud string) (cached, error) {
	now := p.now()
	st, err := p.Assets.Stats(ctx, cloud)
	if err != nil {
		return cached{}, err
	}
	c := cached{at: now, rep: Report{
		Assets: st.Assets, Derived: st.Derived, OriginalBytes: st.OriginalBytes, DerivedBytes: st.DerivedBytes, CountedAt: now,
	}}
	own := ""
	if p.Recorder != nil {
		own = Key(cloud, p.Recorder.node)
	}
	for after := ""; ; {
		objs, err := p.Assets.Store.List(ctx, root(cloud), after, 1000)
		if err != nil {
			return cached{}, err
		}
		if len(objs) == 0 {
			break
		}
		after = objs[len(objs)-1].Key
		for _, o := range objs {
			if o.Key == own {
				continue // counted live
			}
			f, err := readFile(ctx, p.Assets.Store, o.Key)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return cached{}, err
			}
			c.others += f.Renders
		}
	}
	return c, nil
}
