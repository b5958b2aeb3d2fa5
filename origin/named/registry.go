package named

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/flight"
	"github.com/refract-cdn/refract/shared/transform"
)

var (
	// ErrNotFound means the cloud has no named transformation of that name.
	ErrNotFound = errors.New("named: not found")
	// ErrExists means Create met a transformation of that name.
	ErrExists = errors.New("named: already exists")
	// ErrInvalidName means a name is empty, too long or has characters
	// other than letters, digits, "_" and "-" (what t_<name> accepts).
	ErrInvalidName = errors.New("named: invalid name")
	// ErrStatic means the name is defined in the server's transformations
	// file, which wins over the store and is read-only.
	ErrStatic = errors.New("named: defined in the server's configuration")
	// ErrSelfReference means a definition uses t_<its own name>, directly
	// or through others.
	ErrSelfReference = errors.New("named: transformation refers to itself")
	// ErrConflict means concurrent writers kept winning the race.
	ErrConflict = errors.New("named: concurrent update")
	// ErrBadCursor means a cursor was not one List returned.
	ErrBadCursor = errors.New("named: invalid cursor")
)

// Def is one stored named transformation.
type Def struct {
	Name string `json:"name"`
	// Transformation is the canonical text (transform.Chain.String).
	Transformation   string    `json:"transformation"`
	AllowedForStrict bool      `json:"allowed_for_strict"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	// Static marks a definition from the transformations file.
	Static bool `json:"-"`
}

// MaxNameLength bounds a name, as t_ does.
const MaxNameLength = 200

// ValidName reports whether name can be used as t_<name>.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Key is where a stored definition lives: named/<cloud>/<name>.json.
func Key(cloud, name string) string { return root(cloud) + name + ".json" }

func root(cloud string) string { return "named/" + cloud + "/" }

// DefaultTTL is how long Lookup trusts its copy of a cloud's definitions:
// an edit made on another node shows up within it.
const DefaultTTL = 5 * time.Second

// Registry holds named transformations: the file-based Set first (the
// operator's definitions, read-only), then definitions stored per cloud
// in the Store, which the Admin API manages. Lookup answers from memory,
// refreshing each cloud's copy from the Store in the background once it
// is half a TTL old and before answering once it is a whole TTL old.
type Registry struct {
	store  store.Store
	static *Set
	// TTL is read on each lookup; set it before use. DefaultTTL when 0.
	TTL time.Duration
	// Now is the clock for timestamps; time.Now when nil.
	Now func() time.Time

	mu     sync.Mutex
	clouds map[string]*cloudCache
	loads  flight.Group[string, struct{}]
}

type cloudCache struct {
	mu       sync.RWMutex
	defs     map[string]entry
	loadedAt time.Time // when the load that filled defs began
	loaded   bool
	retryAt  time.Time // after a failed load, when to try again
	gen      uint64    // bumped by local writes: an older load is discarded
	bg       atomic.Bool
}

type entry struct {
	def  Def
	etag string
}

// NewRegistry returns a registry over s, consulting static (may be nil)
// first.
func NewRegistry(s store.Store, static *Set) *Registry {
	return &Registry{store: s, static: static, clouds: map[string]*cloudCache{}}
}

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Registry) ttl() time.Duration {
	if r.TTL > 0 {
		return r.TTL
	}
	return DefaultTTL
}

// Lookup returns the transformation t_<name> stands for in cloud: from
// the transformations file if it defines the name, else from the store.
// It is what the renderer calls, so it never waits on the store longer
// than lookupTimeout.
func (r *Registry) Lookup(cloud, name string) (string, bool) {
	if tx, ok := r.static.Lookup(cloud, name); ok {
		return tx, true
	}
	e, ok := r.cached(cloud, name)
	return e.def.Transformation, ok
}

// AllowedForStrict reports whether t_<name> may be used on the fly under
// strict transformations. File-based definitions are not: strictness is
// granted through the Admin API.
func (r *Registry) AllowedForStrict(cloud, name string) bool {
	if _, ok := r.static.Lookup(cloud, name); ok {
		return false
	}
	e, ok := r.cached(cloud, name)
	return ok && e.def.AllowedForStrict
}

// lookupTimeout bounds a synchronous refresh on the render path.
const lookupTimeout = 2 * time.Second

func (r *Registry) cache(cloud string) *cloudCache {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.clouds[cloud]
	if c == nil {
		c = &cloudCache{defs: map[string]entry{}}
		r.clouds[cloud] = c
	}
	return c
}

func (r *Registry) cached(cloud, name string) (entry, bool) {
	if !ValidName(name) {
		return entry{}, false
	}
	c := r.cache(cloud)
	now := r.now()
	c.mu.RLock()
	age, loaded, retryAt := now.Sub(c.loadedAt), c.loaded, c.retryAt
	c.mu.RUnlock()
	switch {
	case (!loaded || age > r.ttl()) && !now.Before(retryAt):
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		r.refresh(ctx, cloud, c)
		cancel()
	case age > r.ttl()/2 && !now.Before(retryAt) && c.bg.CompareAndSwap(false, true):
		go func() {
			defer c.bg.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
			defer cancel()
			r.refresh(ctx, cloud, c)
		}()
	}
	c.mu.RLock()
	e, ok := c.defs[name]
	c.mu.RUnlock()
	return e, ok
}

// refresh reloads a cloud's definitions, one load per cloud at a time.
// Definitions whose ETag did not change are not read again.
func (r *Registry) refresh(ctx context.Context, cloud string, c *cloudCache) {
	r.loads.Do(cloud, func() (struct{}, error) {
		start := r.now()
		c.mu.RLock()
		gen, old := c.gen, c.defs
		c.mu.RUnlock()
		next, err := r.load(ctx, cloud, old)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.retryAt = r.now().Add(time.Second) // keep what we had; do not hammer a failing store
			return struct{}{}, err
		}
		if c.gen == gen {
			c.defs, c.loadedAt, c.loaded = next, start, true
		}
		return struct{}{}, nil
	})
}

func (r *Registry) load(ctx context.Context, cloud string, old map[string]entry) (map[string]entry, error) {
	next := map[string]entry{}
	var stale []string
	for after := ""; ; {
		objs, err := r.store.List(ctx, root(cloud), after, 1000)
		if err != nil {
			return nil, err
		}
		if len(objs) == 0 {
			break
		}
		for _, o := range objs {
			name := nameOf(cloud, o.Key)
			if e, ok := old[name]; ok && e.etag == o.ETag {
				next[name] = e
			} else if ValidName(name) {
				stale = append(stale, name)
			}
		}
		after = objs[len(objs)-1].Key
	}
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, name := range stale {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d, etag, err := r.read(ctx, cloud, name)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				next[name] = entry{d, etag}
			case !errors.Is(err, ErrNotFound) && first == nil:
				first = err
			}
		}()
	}
	wg.Wait()
	return next, first
}

// remember applies a local write to the cache at once, so this node sees
// its own edits without waiting for a refresh.
func (r *Registry) remember(cloud, name string, e *entry) {
	c := r.cache(cloud)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if e == nil {
		delete(c.defs, name)
	} else {
		c.defs[name] = *e
	}
}

func (r *Registry) read(ctx context.Context, cloud, name string) (Def, string, error) {
	b, obj, err := store.ReadAll(ctx, r.store, Key(cloud, name), 1<<20)
	if errors.Is(err, store.ErrNotFound) {
		return Def{}, "", ErrNotFound
	}
	if err != nil {
		return Def{}, "", err
	}
	var d Def
	if err := json.Unmarshal(b, &d); err != nil {
		return Def{}, "", fmt.Errorf("named: corrupt %s: %w", obj.Key, err)
	}
	d.Name = name
	return d, obj.ETag, nil
}

// Get returns a definition as stored now (not cached). A file-based one
// comes back with Static set.
func (r *Registry) Get(ctx context.Context, cloud, name string) (Def, error) {
	if !ValidName(name) {
		return Def{}, ErrNotFound
	}
	if tx, ok := r.static.Lookup(cloud, name); ok {
		return Def{Name: name, Transformation: tx, Static: true}, nil
	}
	d, _, err := r.read(ctx, cloud, name)
	return d, err
}

// canonical checks a definition and returns its canonical text: it must
// parse and must not use t_<name>, directly or through the definitions
// it names (as this node currently sees them).
func (r *Registry) canonical(cloud, name, tx string) (string, error) {
	var ch transform.Chain
	if strings.TrimSpace(tx) == "" {
		return "", clderr.BadRequest("Empty transformation")
	}
	if err := transform.Parse(tx, &ch); err != nil {
		return "", err
	}
	if r.refersTo(cloud, &ch, name, 0) {
		return "", ErrSelfReference
	}
	return ch.String(), nil
}

// maxDepth matches the renderer's bound on nesting.
const maxDepth = 5

func (r *Registry) refersTo(cloud string, ch *transform.Chain, target string, depth int) bool {
	for i := range ch.Components {
		c := &ch.Components[i]
		if !c.Has(transform.ParamNamed) {
			continue
		}
		for _, n := range strings.Split(c.Named, ".") {
			if n == target {
				return true
			}
			if depth >= maxDepth {
				continue
			}
			tx, ok := r.Lookup(cloud, n)
			var sub transform.Chain
			if ok && transform.Parse(tx, &sub) == nil && r.refersTo(cloud, &sub, target, depth+1) {
				return true
			}
		}
	}
	return false
}

// Create stores a new definition; ErrExists if the name is taken.
func (r *Registry) Create(ctx context.Context, cloud string, d Def) (Def, error) {
	if !ValidName(d.Name) {
		return Def{}, ErrInvalidName
	}
	if _, ok := r.static.Lookup(cloud, d.Name); ok {
		return Def{}, ErrStatic
	}
	tx, err := r.canonical(cloud, d.Name, d.Transformation)
	if err != nil {
		return Def{}, err
	}
	d.Transformation, d.Static = tx, false
	d.CreatedAt = r.now().UTC()
	d.UpdatedAt = d.CreatedAt
	obj, err := r.put(ctx, cloud, d, store.PutOptions{IfNoneMatch: true})
	if errors.Is(err, store.ErrPrecondition) {
		return Def{}, ErrExists
	}
	if err != nil {
		return Def{}, err
	}
	r.remember(cloud, d.Name, &entry{d, obj.ETag})
	return d, nil
}

// Update applies fn to the stored definition and writes it back with a
// conditional write, retrying when another node wrote in between. fn may
// change Transformation and AllowedForStrict.
func (r *Registry) Update(ctx context.Context, cloud, name string, fn func(*Def) error) (Def, error) {
	if _, ok := r.static.Lookup(cloud, name); ok && ValidName(name) {
		return Def{}, ErrStatic
	}
	for attempt := 0; attempt < 16; attempt++ {
		if !ValidName(name) {
			return Def{}, ErrNotFound
		}
		d, etag, err := r.read(ctx, cloud, name)
		if err != nil {
			return Def{}, err
		}
		created := d.CreatedAt
		if err := fn(&d); err != nil {
			return Def{}, err
		}
		if d.Transformation, err = r.canonical(cloud, name, d.Transformation); err != nil {
			return Def{}, err
		}
		d.Name, d.CreatedAt, d.UpdatedAt, d.Static = name, created, r.now().UTC(), false
		obj, err := r.put(ctx, cloud, d, store.PutOptions{IfMatch: etag})
		if errors.Is(err, store.ErrPrecondition) {
			time.Sleep(time.Duration(attempt+1) * time.Millisecond)
			continue
		}
		if err != nil {
			return Def{}, err
		}
		r.remember(cloud, name, &entry{d, obj.ETag})
		return d, nil
	}
	return Def{}, ErrConflict
}

func (r *Registry) put(ctx context.Context, cloud string, d Def, opts store.PutOptions) (store.Object, error) {
	b, _ := json.Marshal(d)
	opts.ContentType = "application/json"
	return r.store.Put(ctx, Key(cloud, d.Name), bytes.NewReader(b), opts)
}

// Delete removes a stored definition; ErrNotFound if there is none.
func (r *Registry) Delete(ctx context.Context, cloud, name string) error {
	if !ValidName(name) {
		return ErrNotFound
	}
	if _, ok := r.static.Lookup(cloud, name); ok {
		return ErrStatic
	}
	k := Key(cloud, name)
	if _, err := r.store.Stat(ctx, k); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		return err
	}
	if err := r.store.Delete(ctx, k); err != nil {
		return err
	}
	r.remember(cloud, name, nil)
	return nil
}

// List returns up to max stored definitions (10 when 0, at most 500) in
// key order after cursor, and the next page's cursor ("" at the end).
// File-based definitions are not listed.
func (r *Registry) List(ctx context.Context, cloud, cursor string, max int) ([]Def, string, error) {
	if max <= 0 {
		max = 10
	}
	max = min(max, 500)
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !ValidName(string(b)) {
			return nil, "", ErrBadCursor
		}
		after = Key(cloud, string(b))
	}
	objs, err := r.store.List(ctx, root(cloud), after, max+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(objs) > max {
		objs = objs[:max]
		next = base64.RawURLEncoding.EncodeToString([]byte(nameOf(cloud, objs[max-1].Key)))
	}
	out := make([]Def, 0, len(objs))
	for _, o := range objs {
		name := nameOf(cloud, o.Key)
		if !ValidName(name) {
			continue
		}
		d, _, err := r.read(ctx, cloud, name)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, d)
	}
	return out, next, nil
}

func nameOf(cloud, key string) string {
	return strings.TrimSuffix(strings.TrimPrefix(key, root(cloud)), ".json")
}
