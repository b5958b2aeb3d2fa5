// Package preset stores upload presets: per cloud, a named set of upload
// parameters that the Upload API applies, and that an unsigned upload
// must name.
//
// Key layout: presets/<cloud>/<name>.json, one object per preset.
package preset

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/refract-cdn/refract/origin/store"
)

var (
	// ErrNotFound means the cloud has no preset of that name.
	ErrNotFound = errors.New("preset: not found")
	// ErrExists means Create met a preset of that name.
	ErrExists = errors.New("preset: already exists")
	// ErrInvalidName means a name is empty, too long or has characters
	// other than letters, digits, "_", "-" and ".".
	ErrInvalidName = errors.New("preset: invalid name")
	// ErrConflict means concurrent writers kept winning the race.
	ErrConflict = errors.New("preset: concurrent update")
	// ErrBadCursor means a cursor was not one List returned.
	ErrBadCursor = errors.New("preset: invalid cursor")
)

// Preset is one upload preset.
type Preset struct {
	Name     string `json:"name"`
	Unsigned bool   `json:"unsigned"`
	// Settings are upload parameters as the Upload API reads them (folder,
	// tags, eager, transformation, allowed_formats, format, type,
	// use_filename, unique_filename, overwrite, context, notification_url,
	// ...): strings, lists joined with "," and booleans as "true"/"false".
	Settings  map[string]string `json:"settings"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// MaxNameLength bounds a preset's name.
const MaxNameLength = 200

// ValidName reports whether name can name a preset.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLength || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Key is where a preset lives.
func Key(cloud, name string) string { return root(cloud) + name + ".json" }

func root(cloud string) string { return "presets/" + cloud + "/" }

// Repo reads and writes presets in a Store.
type Repo struct {
	Store store.Store
	Now   func() time.Time // time.Now when nil
}

func (r *Repo) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Get loads a preset.
func (r *Repo) Get(ctx context.Context, cloud, name string) (*Preset, error) {
	p, _, err := r.get(ctx, cloud, name)
	return p, err
}

func (r *Repo) get(ctx context.Context, cloud, name string) (*Preset, string, error) {
	if !ValidName(name) {
		return nil, "", ErrNotFound
	}
	b, obj, err := store.ReadAll(ctx, r.Store, Key(cloud, name), 1<<20)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	var p Preset
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, "", fmt.Errorf("preset: corrupt %s: %w", obj.Key, err)
	}
	if p.Settings == nil {
		p.Settings = map[string]string{}
	}
	return &p, obj.ETag, nil
}

// Create stores a new preset; ErrExists if the name is taken.
func (r *Repo) Create(ctx context.Context, cloud string, p *Preset) error {
	if !ValidName(p.Name) {
		return ErrInvalidName
	}
	p.CreatedAt = r.now()
	p.UpdatedAt = p.CreatedAt
	_, err := r.put(ctx, cloud, p, store.PutOptions{IfNoneMatch: true})
	if errors.Is(err, store.ErrPrecondition) {
		return ErrExists
	}
	return err
}

// Update applies fn to the stored preset and writes it back with a
// conditional write, retrying when another node wrote in between.
func (r *Repo) Update(ctx context.Context, cloud, name string, fn func(*Preset) error) (*Preset, error) {
	for attempt := 0; attempt < 16; attempt++ {
		p, etag, err := r.get(ctx, cloud, name)
		if err != nil {
			return nil, err
		}
		if err := fn(p); err != nil {
			return nil, err
		}
		p.Name = name
		p.UpdatedAt = r.now()
		_, err = r.put(ctx, cloud, p, store.PutOptions{IfMatch: etag})
		if errors.Is(err, store.ErrPrecondition) {
			time.Sleep(time.Duration(attempt+1) * time.Millisecond)
			continue
		}
		return p, err
	}
	return nil, ErrConflict
}

func (r *Repo) put(ctx context.Context, cloud string, p *Preset, opts store.PutOptions) (store.Object, error) {
	if p.Settings == nil {
		p.Settings = map[string]string{}
	}
	b, _ := json.Marshal(p)
	opts.ContentType = "application/json"
	return r.Store.Put(ctx, Key(cloud, p.Name), bytes.NewReader(b), opts)
}

// Delete removes a preset; ErrNotFound if there is none.
func (r *Repo) Delete(ctx context.Context, cloud, name string) error {
	if !ValidName(name) {
		return ErrNotFound
	}
	k := Key(cloud, name)
	if _, err := r.Store.Stat(ctx, k); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		return err
	}
	return r.Store.Delete(ctx, k)
}

// List returns up to max presets (10 when 0, at most 500) in key order
// after cursor, and the cursor of the next page ("" at the end).
func (r *Repo) List(ctx context.Context, cloud, cursor string, max int) ([]*Preset, string, error) {
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
	objs, err := r.Store.List(ctx, root(cloud), after, max+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(objs) > max {
		objs = objs[:max]
		next = base64.RawURLEncoding.EncodeToString([]byte(nameOf(cloud, objs[max-1].Key)))
	}
	out := make([]*Preset, 0, len(objs))
	for _, o := range objs {
		p, err := r.Get(ctx, cloud, nameOf(cloud, o.Key))
		if errors.Is(err, ErrNotFound) {
			continue // deleted since listed
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, p)
	}
	return out, next, nil
}

func nameOf(cloud, key string) string {
	return strings.TrimSuffix(strings.TrimPrefix(key, root(cloud)), ".json")
}
