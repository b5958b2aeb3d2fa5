// Package asset keeps assets' metadata in a Store and implements the
// conditional-write protocols that make concurrent uploads, edits,
// renames and deletes on one public_id safe when several origin nodes
// share the Store.
//
// Key layout (no key is a path prefix of another, so S3 and POSIX-backed
// servers agree):
//
//	assets/<cloud>/<rt>/<type>/<public_id>%.json      metadata, one per asset
//	originals/<cloud>/<version_id>.<ext>              bytes of one version
//	derived/<cloud>/<version_id>/<name>               derivatives of that version
//	derivedinfo/<cloud>/<version_id>/<name>           what each derivative is (JSON)
//	tags/<cloud>/<rt>/<escaped tag>/<type>/<public_id>%   tag index markers (empty)
//
// public_ids cannot contain "%", so the metadata and marker leaves never
// collide with a folder. Originals and derivatives are keyed by
// version_id, so a version's bytes never change once written and an
// overwrite can never mix two versions. The tag index is a superset of
// the truth: markers are written before the metadata that adds a tag and
// deleted after the metadata that drops it, and readers check each
// marker against the metadata.
//
// A delete first replaces the metadata with a tombstone (a conditional
// write against the version it read, since a Store has no conditional
// delete), then removes the key; readers treat a tombstone as absent.
package asset

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"time"

	"github.com/refract-cdn/refract/origin/store"
)

var (
	// ErrNotFound means no asset has that public_id.
	ErrNotFound = errors.New("asset: not found")
	// ErrExists means the public_id is taken and overwrite was off.
	ErrExists = errors.New("asset: already exists")
	// ErrConflict means concurrent writers kept winning the race.
	ErrConflict = errors.New("asset: concurrent update")
	// ErrInvalidTag means a tag is empty, too long or has control bytes.
	ErrInvalidTag = errors.New("asset: invalid tag")
)

// Asset is the metadata of one uploaded asset version.
type Asset struct {
	Cloud        string    `json:"cloud"`
	ResourceType string    `json:"resource_type"`
	Type         string    `json:"type"`
	PublicID     string    `json:"public_id"`
	AssetID      string    `json:"asset_id"`
	Version      int64     `json:"version"`
	VersionID    string    `json:"version_id"`
	Format       string    `json:"format,omitempty"`
	Width        int       `json:"width,omitempty"`
	Height       int       `json:"height,omitempty"`
	Alpha        bool      `json:"alpha,omitempty"`
	Pages        int       `json:"pages,omitempty"`
	Bytes        int64     `json:"bytes"`
	ETag         string    `json:"etag"` // MD5 of the original, as Cloudinary reports it
	CreatedAt    time.Time `json:"created_at"`
	Tags         []string  `json:"tags,omitempty"`
	// Context is the asset's contextual metadata (key=value pairs).
	Context          map[string]string `json:"context,omitempty"`
	OriginalFilename string            `json:"original_filename,omitempty"`
	OriginalKey      string            `json:"original_key"`
	// Deleted marks a tombstone: a delete in progress. Readers never see
	// one; Get reports ErrNotFound.
	Deleted bool `json:"deleted,omitempty"`
}

// clone is a deep copy, so an edit never aliases the cached original.
func (a *Asset) clone() *Asset {
	c := *a
	c.Tags = append([]string(nil), a.Tags...)
	if a.Context != nil {
		c.Context = make(map[string]string, len(a.Context))
		for k, v := range a.Context {
			c.Context[k] = v
		}
	}
	return &c
}

// MetaKey is where an asset's metadata lives.
func MetaKey(cloud, rt, typ, publicID string) string {
	return metaRoot(cloud, rt) + typ + "/" + publicID + metaSuffix
}

const metaSuffix = "%.json"

func metaRoot(cloud, rt string) string { return "assets/" + cloud + "/" + rt + "/" }

// OriginalKey is where one version's original bytes live.
func OriginalKey(cloud, versionID, ext string) string {
	k := "originals/" + cloud + "/" + versionID
	if ext != "" {
		k += "." + ext
	}
	return k
}

// DerivedPrefix holds every derivative of one version.
func DerivedPrefix(cloud, versionID string) string {
	return "derived/" + cloud + "/" + versionID + "/"
}

// DerivedKey is where one derivative of a version lives.
func DerivedKey(cloud, versionID, name string) string {
	return DerivedPrefix(cloud, versionID) + name
}

// NewID returns 16 random bytes in hex: asset and version ids.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// Repo reads and writes assets in a Store.
type Repo struct {
	Store store.Store
}

// Get loads an asset and the ETag of its metadata object.
func (r *Repo) Get(ctx context.Context, cloud, rt, typ, publicID string) (*Asset, string, error) {
	a, obj, err := r.loadKey(ctx, MetaKey(cloud, rt, typ, publicID))
	if err != nil {
		return nil, "", err
	}
	if a.Deleted {
		return nil, "", ErrNotFound
	}
	return a, obj.ETag, nil
}

// loadKey reads one metadata object, tombstones included.
func (r *Repo) loadKey(ctx context.Context, key string) (*Asset, store.Object, error) {
	b, obj, err := store.ReadAll(ctx, r.Store, key, 1<<20)
	if errors.Is(err, store.ErrNotFound) {
		return nil, obj, ErrNotFound
	}
	if err != nil {
		return nil, obj, err
	}
	var a Asset
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, obj, fmt.Errorf("asset: corrupt metadata %s: %w", obj.Key, err)
	}
	return &a, obj, nil
}

// maxAttempts bounds the retries of a lost metadata race.
const maxAttempts = 8

// tombstoneGrace is how long a tombstone is taken for a delete in
// progress. An older one was left by a crash between the tombstone and
// the removal of the key, and a writer may replace it.
const tombstoneGrace = time.Minute

// backoff waits a little before retrying a lost race, so that writers
// hammering one key spread out instead of colliding in lockstep.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1<<min(attempt, 5)) * time.Millisecond
	t := time.NewTimer(d/2 + mrand.N(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Save stores a as a new version whose original bytes come from original.
// The original is written first under a key no other version uses, then
// the metadata with a conditional write against the version it replaces;
// a writer that loses the race re-reads and tries again. The version it
// replaced (returned as prev) has its original and derivatives deleted.
// Whatever happens, readers see one whole version: the metadata is only
// ever swapped to point at a complete original.
//
// Save fills in VersionID, OriginalKey, AssetID and, on overwrite, keeps
// Version strictly increasing. It keeps the tag index a superset: a's
// tags are indexed before the metadata is written, and the replaced
// version's other tags are unindexed after.
func (r *Repo) Save(ctx context.Context, a *Asset, original io.Reader, overwrite bool) (prev *Asset, err error) {
	a.Tags = normalizeTags(a.Tags)
	for _, t := range a.Tags {
		if !ValidTag(t) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidTag, t)
		}
	}
	a.Deleted = false
	a.VersionID = NewID()
	a.OriginalKey = OriginalKey(a.Cloud, a.VersionID, a.Format)
	if _, err := r.Store.Put(ctx, a.OriginalKey, original, store.PutOptions{IfNoneMatch: true}); err != nil {
		return nil, fmt.Errorf("asset: store original: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			r.Store.Delete(context.WithoutCancel(ctx), a.OriginalKey)
		}
	}()
	if err := r.indexTags(ctx, a.Cloud, a.ResourceType, a.Type, a.PublicID, a.Tags); err != nil {
		return nil, err
	}
	key := MetaKey(a.Cloud, a.ResourceType, a.Type, a.PublicID)
	version, assetID := a.Version, a.AssetID
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		cur, obj, err := r.loadKey(ctx, key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		opts := store.PutOptions{IfNoneMatch: true, ContentType: "application/json"}
		a.Version, a.AssetID = version, assetID
		if a.AssetID == "" {
			a.AssetID = NewID()
		}
		if cur != nil && cur.Deleted {
			if time.Since(obj.Modified) < tombstoneGrace {
				continue // a delete is finishing: wait for the key to go
			}
			opts = store.PutOptions{IfMatch: obj.ETag, ContentType: "application/json"}
		} else if cur != nil {
			if !overwrite {
				r.unindexTags(context.WithoutCancel(ctx), a.Cloud, a.ResourceType, a.Type, a.PublicID, subtract(a.Tags, cur.Tags))
				return cur, ErrExists
			}
			opts = store.PutOptions{IfMatch: obj.ETag, ContentType: "application/json"}
			// A versioned URL must never name two different versions.
			a.Version = max(version, cur.Version+1)
			a.AssetID = cur.AssetID
		}
		meta, _ := json.Marshal(a)
		_, err = r.Store.Put(ctx, key, bytes.NewReader(meta), opts)
		if errors.Is(err, store.ErrPrecondition) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("asset: store metadata: %w", err)
		}
		keep = true
		bg := context.WithoutCancel(ctx)
		r.confirmTags(bg, a.Cloud, a.ResourceType, a.Type, a.PublicID, a.Tags)
		if cur != nil {
			r.purgeVersion(bg, cur)
			r.unindexTags(bg, a.Cloud, a.ResourceType, a.Type, a.PublicID, subtract(cur.Tags, a.Tags))
			if cur.Deleted {
				cur = nil // a crashed delete's leftovers, not a version the caller replaced
			}
		}
		return cur, nil
	}
	return nil, ErrConflict
}

// purgeVersion deletes a replaced version's original and derivatives.
// Failures leave garbage, never a visible inconsistency: nothing refers
// to these keys any more.
func (r *Repo) purgeVersion(ctx context.Context, a *Asset) {
	r.Store.Delete(ctx, a.OriginalKey)
	r.deletePrefix(ctx, DerivedPrefix(a.Cloud, a.VersionID))
	r.deletePrefix(ctx, derivedInfoPrefix(a.Cloud, a.VersionID))
}

// deletePrefix deletes every key under prefix, best effort.
func (r *Repo) deletePrefix(ctx context.Context, prefix string) {
	for after := ""; ; {
		objs, err := r.Store.List(ctx, prefix, after, 1000)
		if err != nil || len(objs) == 0 {
			return
		}
		for _, o := range objs {
			r.Store.Delete(ctx, o.Key)
		}
		after = objs[len(objs)-1].Key
	}
}
