package asset

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/refract-cdn/refract/origin/store"
)

// Query selects the assets List returns.
type Query struct {
	Cloud        string
	ResourceType string
	Type         string // "" lists every delivery type
	Prefix       string // public_id prefix
	Tag          string // only assets carrying this tag
	// PublicIDs fetches these assets directly (Type "" means "upload"),
	// in this order, skipping missing ones; Prefix, Tag and paging are
	// then ignored.
	PublicIDs []string
	Cursor    string // the previous page's next
	Max       int    // DefaultMax when 0, at most MaxResults
}

// parallel bounds the metadata reads one listing issues at once.
const parallel = 16

// List returns one page of assets and the cursor of the next page ("" at
// the end). It walks the metadata keys (or, with Tag, the tag index) in
// byte order, reads each page's metadata concurrently and leaves out
// tombstones and stale tag markers, so a page can be short of Max while
// more follow.
func (r *Repo) List(ctx context.Context, q Query) ([]*Asset, string, error) {
	if len(q.PublicIDs) > 0 {
		return r.byIDs(ctx, q)
	}
	max := clampMax(q.Max)
	sc := scanner{store: r.Store, typ: q.Type, prefix: q.Prefix}
	if q.Tag != "" {
		sc.root = tagRoot(q.Cloud, q.ResourceType) + escapeTag(q.Tag) + "/"
		sc.suffix = "%"
	} else {
		sc.root = metaRoot(q.Cloud, q.ResourceType)
		sc.suffix = metaSuffix
	}
	if q.Cursor != "" {
		key, err := decodeCursor(q.Cursor)
		if err != nil || !sc.owns(key) {
			return nil, "", ErrBadCursor
		}
		sc.after = key
	}
	var out []*Asset
	for len(out) < max && !sc.done {
		objs, err := sc.next(ctx, max-len(out))
		if err != nil {
			return nil, "", err
		}
		got := make([]*Asset, len(objs))
		err = ForEach(ctx, len(objs), func(i int) error {
			var err error
			got[i], err = r.resolve(ctx, q, sc.root, objs[i].Key)
			return err
		})
		if err != nil {
			return nil, "", err
		}
		for _, a := range got {
			if a != nil {
				out = append(out, a)
			}
		}
	}
	if sc.done {
		return out, "", nil
	}
	// Probe on a copy, so that a last full page does not promise another.
	probe := sc
	if objs, err := probe.next(ctx, 1); err != nil || len(objs) == 0 {
		return out, "", err
	}
	return out, encodeCursor(sc.after), nil
}

// resolve turns a listed key into its asset, or nil when the key is a
// tombstone, a stale marker or not an asset key.
func (r *Repo) resolve(ctx context.Context, q Query, root, key string) (*Asset, error) {
	var a *Asset
	var err error
	if q.Tag != "" {
		typ, id, ok := parseMarker(key[len(root):])
		if !ok {
			return nil, nil
		}
		a, _, err = r.Get(ctx, q.Cloud, q.ResourceType, typ, id)
		if err == nil && !slices.Contains(a.Tags, q.Tag) {
			return nil, nil
		}
	} else {
		if a, _, err = r.loadKey(ctx, key); err == nil && a.Deleted {
			return nil, nil
		}
	}
	if errors.Is(err, ErrNotFound) {
		return nil, nil // deleted since it was listed
	}
	return a, err
}

func (r *Repo) byIDs(ctx context.Context, q Query) ([]*Asset, string, error) {
	typ := q.Type
	if typ == "" {
		typ = "upload"
	}
	ids := normalizeTags(q.PublicIDs) // same dedupe
	got := make([]*Asset, len(ids))
	err := ForEach(ctx, len(ids), func(i int) error {
		a, _, err := r.Get(ctx, q.Cloud, q.ResourceType, typ, ids[i])
		if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
			return nil
		}
		got[i] = a
		return err
	})
	if err != nil {
		return nil, "", err
	}
	out := got[:0]
	for _, a := range got {
		if a != nil {
			out = append(out, a)
		}
	}
	return out, "", nil
}

// scanner walks keys root+"<type>/<public_id><suffix>" in byte order,
// for one type or all of them, keeping public_ids that start with prefix.
// Across all types with a prefix it lists each type's prefix range and
// skips from type to type, instead of listing every key.
type scanner struct {
	store          store.Store
	root, suffix   string
	typ, prefix    string
	after          string // the last key returned
	done           bool
	curType        string // the type being walked (all types with a prefix)
	curTypeChecked bool
}

// owns reports whether key could have been returned by this scan.
func (s *scanner) owns(key string) bool {
	if !strings.HasPrefix(key, s.root) {
		return false
	}
	typ, id, ok := strings.Cut(key[len(s.root):], "/")
	// A cursor may also be the key that skips past a whole type.
	return ok && typ != "" && (s.typ == "" || typ == s.typ) && (strings.HasPrefix(id, s.prefix) || id == maxKey)
}

// next returns up to n more keys; fewer (even none) without done being
// set means the caller should call again.
func (s *scanner) next(ctx context.Context, n int) ([]store.Object, error) {
	if s.typ != "" || s.prefix == "" {
		p := s.root
		if s.typ != "" {
			p += s.typ + "/" + s.prefix
		}
		return s.list(ctx, p, n)
	}
	if !s.curTypeChecked && s.after != "" {
		s.curType, _, _ = strings.Cut(s.after[len(s.root):], "/")
	}
	s.curTypeChecked = true
	if s.curType == "" {
		objs, err := s.store.List(ctx, s.root, s.after, 1)
		if err != nil {
			return nil, err
		}
		if len(objs) == 0 {
			s.done = true
			return nil, nil
		}
		s.curType, _, _ = strings.Cut(objs[0].Key[len(s.root):], "/")
	}
	typeRoot := s.root + s.curType + "/"
	objs, err := s.store.List(ctx, typeRoot+s.prefix, s.after, n)
	if err != nil {
		return nil, err
	}
	if len(objs) < n {
		// This type is done: move past all of its keys.
		if len(objs) > 0 {
			s.after = objs[len(objs)-1].Key
		}
		skip := typeRoot + maxKey
		objs = s.filter(objs)
		s.after, s.curType = skip, ""
		return objs, nil
	}
	s.after = objs[len(objs)-1].Key
	return s.filter(objs), nil
}

func (s *scanner) list(ctx context.Context, prefix string, n int) ([]store.Object, error) {
	objs, err := s.store.List(ctx, prefix, s.after, n)
	if err != nil {
		return nil, err
	}
	if len(objs) < n {
		s.done = true
	}
	if len(objs) > 0 {
		s.after = objs[len(objs)-1].Key
	}
	return s.filter(objs), nil
}

// filter drops keys that are not leaves of this scan (stray objects).
func (s *scanner) filter(objs []store.Object) []store.Object {
	out := objs[:0]
	for _, o := range objs {
		if strings.HasSuffix(o.Key, s.suffix) && s.owns(o.Key) {
			out = append(out, o)
		}
	}
	return out
}

// ForEach runs fn(0..n-1) with at most 16 at once and returns the first
// error; it stops starting new calls once ctx ends. Store round trips
// are latency-bound, so the APIs fan them out with it.
func ForEach(ctx context.Context, n int, fn func(i int) error) error {
	if n == 1 {
		return fn(0)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, parallel)
	)
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
