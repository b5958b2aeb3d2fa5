package asset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/refract-cdn/refract/origin/store"
)

// updateAttempts is higher than Save's: tag edits on one asset are
// cheap to retry and many clients may tag the same asset at once.
const updateAttempts = 32

// Update applies fn to a copy of the asset and writes it back with a
// conditional write, re-reading and re-applying fn when another writer
// got there first. fn may change tags, context and descriptive fields;
// the identity (cloud, type, public_id, version, storage keys) is kept.
// An error from fn is returned as is and nothing is written.
func (r *Repo) Update(ctx context.Context, cloud, rt, typ, publicID string, fn func(*Asset) error) (*Asset, error) {
	key := MetaKey(cloud, rt, typ, publicID)
	for attempt := 0; attempt < updateAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		cur, obj, err := r.loadKey(ctx, key)
		if err != nil {
			return nil, err
		}
		if cur.Deleted {
			return nil, ErrNotFound
		}
		next := cur.clone()
		if err := fn(next); err != nil {
			return nil, err
		}
		next.Cloud, next.ResourceType, next.Type, next.PublicID = cur.Cloud, cur.ResourceType, cur.Type, cur.PublicID
		next.AssetID, next.Version, next.VersionID, next.OriginalKey = cur.AssetID, cur.Version, cur.VersionID, cur.OriginalKey
		next.Deleted = false
		next.Tags = normalizeTags(next.Tags)
		for _, t := range next.Tags {
			if !ValidTag(t) {
				return nil, fmt.Errorf("%w: %q", ErrInvalidTag, t)
			}
		}
		added, removed := subtract(next.Tags, cur.Tags), subtract(cur.Tags, next.Tags)
		if err := r.indexTags(ctx, cloud, rt, typ, publicID, added); err != nil {
			return nil, err
		}
		meta, _ := json.Marshal(next)
		_, err = r.Store.Put(ctx, key, bytes.NewReader(meta), store.PutOptions{IfMatch: obj.ETag, ContentType: "application/json"})
		if errors.Is(err, store.ErrPrecondition) {
			continue // the markers written stay: the index may be a superset
		}
		if err != nil {
			return nil, fmt.Errorf("asset: store metadata: %w", err)
		}
		bg := context.WithoutCancel(ctx)
		r.confirmTags(bg, cloud, rt, typ, publicID, added)
		r.unindexTags(bg, cloud, rt, typ, publicID, removed)
		return next, nil
	}
	return nil, ErrConflict
}

// DeleteOptions changes what Delete removes.
type DeleteOptions struct {
	// KeepOriginal deletes only the derivatives, as the Admin API's
	// keep_original does: the asset stays.
	KeepOriginal bool
}

// Delete removes an asset: a tombstone replaces the metadata it read
// (conditionally, so a concurrent overwrite is never deleted unseen),
// then the key goes, then the version's original, derivatives and tag
// markers. It returns the asset as it was; ErrNotFound if absent.
func (r *Repo) Delete(ctx context.Context, cloud, rt, typ, publicID string) (*Asset, error) {
	return r.DeleteWith(ctx, cloud, rt, typ, publicID, DeleteOptions{})
}

// DeleteWith is Delete with options.
func (r *Repo) DeleteWith(ctx context.Context, cloud, rt, typ, publicID string, o DeleteOptions) (*Asset, error) {
	if o.KeepOriginal {
		a, _, err := r.Get(ctx, cloud, rt, typ, publicID)
		if err != nil {
			return nil, err
		}
		_, err = r.DeleteDerivedOf(ctx, a, nil)
		return a, err
	}
	key := MetaKey(cloud, rt, typ, publicID)
	for attempt := 0; attempt < updateAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		cur, err := r.tombstone(ctx, key, "")
		if errors.Is(err, store.ErrPrecondition) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r.finishDelete(context.WithoutCancel(ctx), key, cur)
		return cur, nil
	}
	return nil, ErrConflict
}

// tombstone marks the asset at key deleted with a conditional write. With
// versionID set it only does so while the asset is still that version.
// It returns the asset as it was before.
func (r *Repo) tombstone(ctx context.Context, key, versionID string) (*Asset, error) {
	cur, obj, err := r.loadKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if cur.Deleted || (versionID != "" && cur.VersionID != versionID) {
		return nil, ErrNotFound
	}
	tomb := cur.clone()
	tomb.Deleted = true
	meta, _ := json.Marshal(tomb)
	if _, err := r.Store.Put(ctx, key, bytes.NewReader(meta), store.PutOptions{IfMatch: obj.ETag, ContentType: "application/json"}); err != nil {
		return nil, err
	}
	return cur, nil
}

// finishDelete removes a tombstoned asset's key, bytes and markers.
// Everything after the key's removal is garbage collection: nothing
// refers to those keys any more.
func (r *Repo) finishDelete(ctx context.Context, key string, a *Asset) {
	r.Store.Delete(ctx, key)
	r.purgeVersion(ctx, a)
	r.unindexTags(ctx, a.Cloud, a.ResourceType, a.Type, a.PublicID, a.Tags)
}

// Rename moves an asset to another public_id and/or delivery type of
// the same resource type, keeping its AssetID, Version (raised past a
// replaced target's, so that a versioned URL never names two versions),
// tags and context. The original is copied under a new version_id, so
// that two metadata objects never share one original: after a crash
// between the steps both names may exist, each whole. The target is
// written first (conditionally), then the source is tombstoned and
// removed. A taken target without overwrite gives ErrExists.
func (r *Repo) Rename(ctx context.Context, cloud, rt, fromType, from, toType, to string, overwrite bool) (renamed, replaced *Asset, err error) {
	srcKey, dstKey := MetaKey(cloud, rt, fromType, from), MetaKey(cloud, rt, toType, to)
	src, _, err := r.Get(ctx, cloud, rt, fromType, from)
	if err != nil {
		return nil, nil, err
	}
	if srcKey == dstKey {
		return src, nil, nil
	}
	if cur, _, err := r.Get(ctx, cloud, rt, toType, to); err == nil && !overwrite {
		return nil, cur, ErrExists
	}
	n := src.clone()
	n.Type, n.PublicID = toType, to
	n.VersionID = NewID()
	n.OriginalKey = OriginalKey(cloud, n.VersionID, n.Format)
	if err := r.copyObject(ctx, src.OriginalKey, n.OriginalKey); err != nil {
		return nil, nil, err
	}
	keep := false
	defer func() {
		if !keep {
			r.Store.Delete(context.WithoutCancel(ctx), n.OriginalKey)
		}
	}()
	if err := r.indexTags(ctx, cloud, rt, toType, to, n.Tags); err != nil {
		return nil, nil, err
	}
	version := src.Version
	for attempt := 0; ; attempt++ {
		if attempt == maxAttempts {
			return nil, nil, ErrConflict
		}
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, nil, err
			}
		}
		cur, obj, err := r.loadKey(ctx, dstKey)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, nil, err
		}
		opts := store.PutOptions{IfNoneMatch: true, ContentType: "application/json"}
		n.Version = version
		if cur != nil && cur.Deleted {
			if time.Since(obj.Modified) < tombstoneGrace {
				continue
			}
			opts.IfNoneMatch, opts.IfMatch = false, obj.ETag
		} else if cur != nil {
			if !overwrite {
				r.unindexTags(context.WithoutCancel(ctx), cloud, rt, toType, to, subtract(n.Tags, cur.Tags))
				return nil, cur, ErrExists
			}
			opts.IfNoneMatch, opts.IfMatch = false, obj.ETag
			n.Version = max(version, cur.Version+1)
		}
		meta, _ := json.Marshal(n)
		_, err = r.Store.Put(ctx, dstKey, bytes.NewReader(meta), opts)
		if errors.Is(err, store.ErrPrecondition) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("asset: store metadata: %w", err)
		}
		keep = true
		bg := context.WithoutCancel(ctx)
		r.confirmTags(bg, cloud, rt, toType, to, n.Tags)
		if cur != nil {
			r.purgeVersion(bg, cur)
			r.unindexTags(bg, cloud, rt, toType, to, subtract(cur.Tags, n.Tags))
			if !cur.Deleted {
				replaced = cur
			}
		}
		break
	}
	// The source goes only while it is still the version copied: an
	// upload that replaced it meanwhile is a new asset and stays.
	bg := context.WithoutCancel(ctx)
	for attempt := 0; attempt < updateAttempts; attempt++ {
		old, err := r.tombstone(bg, srcKey, src.VersionID)
		if errors.Is(err, store.ErrPrecondition) {
			backoff(bg, attempt+1)
			continue
		}
		if err == nil {
			r.finishDelete(bg, srcKey, old)
		}
		break
	}
	return n, replaced, nil
}

// copyObject copies a stored object's bytes under a new key, create-only.
func (r *Repo) copyObject(ctx context.Context, from, to string) error {
	rc, _, err := r.Store.Get(ctx, from)
	if err != nil {
		return fmt.Errorf("asset: read original: %w", err)
	}
	defer rc.Close()
	if _, err := r.Store.Put(ctx, to, rc, store.PutOptions{IfNoneMatch: true}); err != nil {
		return fmt.Errorf("asset: copy original: %w", err)
	}
	return nil
}
