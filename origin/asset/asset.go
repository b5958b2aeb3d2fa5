// Package asset keeps assets' metadata in a Store and implements the
// save protocol that makes concurrent uploads to one public_id safe.
//
// Key layout (no key is a path prefix of another, so S3 and POSIX-backed
// servers agree):
//
//	assets/<cloud>/<rt>/<type>/<public_id>%.json   metadata, one per asset
//	originals/<cloud>/<version_id>.<ext>           bytes of one version
//	derived/<cloud>/<version_id>/<name>            derivatives of that version
//
// public_ids cannot contain "%", so the metadata leaf never collides
// with a folder. Originals and derivatives are keyed by version_id, so a
// version's bytes never change once written and an overwrite can never
// mix two versions.
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
}

// MetaKey is where an asset's metadata lives.
func MetaKey(cloud, rt, typ, publicID string) string {
	return "assets/" + cloud + "/" + rt + "/" + typ + "/" + publicID + "%.json"
}

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
	b, obj, err := store.ReadAll(ctx, r.Store, MetaKey(cloud, rt, typ, publicID), 1<<20)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	var a Asset
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, "", fmt.Errorf("asset: corrupt metadata %s: %w", obj.Key, err)
	}
	return &a, obj.ETag, nil
}

// maxAttempts bounds the retries of a lost metadata race.
const maxAttempts = 8

// Save stores a as a new version whose original bytes come from original.
// The original is written first under a key no other version uses, then
// the metadata with a conditional write against the version it replaces;
// a writer that loses the race re-reads and tries again. The version it
// replaced (returned as prev) has its original and derivatives deleted.
// Whatever happens, readers see one whole version: the metadata is only
// ever swapped to point at a complete original.
//
// Save fills in VersionID, OriginalKey, AssetID and, on overwrite, keeps
// Version strictly increasing.
func (r *Repo) Save(ctx context.Context, a *Asset, original io.Reader, overwrite bool) (prev *Asset, err error) {
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
	version := a.Version
	for attempt := 0; attempt < maxAttempts; attempt++ {
		cur, etag, err := r.Get(ctx, a.Cloud, a.ResourceType, a.Type, a.PublicID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		opts := store.PutOptions{IfNoneMatch: true, ContentType: "application/json"}
		a.Version = version
		if a.AssetID == "" {
			a.AssetID = NewID()
		}
		if cur != nil {
			if !overwrite {
				return cur, ErrExists
			}
			opts = store.PutOptions{IfMatch: etag, ContentType: "application/json"}
			// A versioned URL must never name two different versions.
			a.Version = max(version, cur.Version+1)
			a.AssetID = cur.AssetID
		}
		meta, _ := json.Marshal(a)
		_, err = r.Store.Put(ctx, MetaKey(a.Cloud, a.ResourceType, a.Type, a.PublicID), bytes.NewReader(meta), opts)
		if errors.Is(err, store.ErrPrecondition) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("asset: store metadata: %w", err)
		}
		keep = true
		if cur != nil {
			r.purgeVersion(context.WithoutCancel(ctx), cur)
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
	prefix := DerivedPrefix(a.Cloud, a.VersionID)
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
