package asset

import (
	"context"
	"strings"
)

// Stats is what a cloud stores, counted from the keys.
type Stats struct {
	Assets        int64 // metadata objects (a delete in progress may count)
	OriginalBytes int64
	Derived       int64
	DerivedBytes  int64
}

// Stats counts a cloud's assets and bytes by listing its keys: O(keys),
// so callers cache it.
func (r *Repo) Stats(ctx context.Context, cloud string) (Stats, error) {
	var s Stats
	err := r.walk(ctx, "assets/"+cloud+"/", func(key string, size int64) {
		if strings.HasSuffix(key, metaSuffix) {
			s.Assets++
		}
	})
	if err == nil {
		err = r.walk(ctx, "originals/"+cloud+"/", func(_ string, size int64) { s.OriginalBytes += size })
	}
	if err == nil {
		err = r.walk(ctx, "derived/"+cloud+"/", func(_ string, size int64) { s.Derived++; s.DerivedBytes += size })
	}
	return s, err
}

func (r *Repo) walk(ctx context.Context, prefix string, fn func(key string, size int64)) error {
	for after := ""; ; {
		objs, err := r.Store.List(ctx, prefix, after, 1000)
		if err != nil || len(objs) == 0 {
			return err
		}
		for _, o := range objs {
			fn(o.Key, o.Size)
		}
		after = objs[len(objs)-1].Key
	}
}
