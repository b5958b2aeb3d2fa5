// Package localfs is a Store on a local directory, the default for a
// single node. A write goes to a temporary file, is fsynced and renamed
// into place, and the directory is fsynced, so a crash leaves either the
// old object or the new one. Conditional writes are serialised per key
// within the process: one process owns a directory.
package localfs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/refract-cdn/refract/origin/store"
)

// tmpDir holds writes in flight, inside the root so renames stay on one
// filesystem. Keys cannot start with it because "." segments are refused
// only as whole segments, so it is checked explicitly.
const tmpDir = ".tmp"

// FS is a Store rooted at a directory.
type FS struct {
	root  string
	locks [64]sync.Mutex
}

// New opens (creating if needed) a store at root and removes temporary
// files left by a crash more than an hour ago.
func New(root string) (*FS, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, tmpDir), 0o755); err != nil {
		return nil, err
	}
	f := &FS{root: root}
	f.sweep(time.Hour)
	return f, nil
}

func (f *FS) sweep(age time.Duration) {
	ents, _ := os.ReadDir(filepath.Join(f.root, tmpDir))
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			os.Remove(filepath.Join(f.root, tmpDir, e.Name()))
		}
	}
}

func (f *FS) path(key string) (string, error) {
	if !store.ValidKey(key) || key == tmpDir || strings.HasPrefix(key, tmpDir+"/") {
		return "", store.ErrInvalidKey
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

func (f *FS) lock(key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &f.locks[h.Sum32()%uint32(len(f.locks))]
}

func object(key string, fi fs.FileInfo) store.Object {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	// Every Put renames a new file into place, so the inode and mtime
	// change with each version.
	return store.Object{
		Key: key, Size: fi.Size(), Modified: fi.ModTime(),
		ETag: fmt.Sprintf("%x-%x-%x", ino, fi.ModTime().UnixNano(), fi.Size()),
	}
}

// Get opens key for reading.
func (f *FS) Get(ctx context.Context, key string) (io.ReadCloser, store.Object, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, store.Object{}, err
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, store.Object{}, notFound(err)
	}
	fi, err := fh.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		fh.Close()
		return nil, store.Object{}, store.ErrNotFound
	}
	return fh, object(key, fi), nil
}

// Stat describes key.
func (f *FS) Stat(ctx context.Context, key string) (store.Object, error) {
	p, err := f.path(key)
	if err != nil {
		return store.Object{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return store.Object{}, notFound(err)
	}
	if !fi.Mode().IsRegular() {
		return store.Object{}, store.ErrNotFound
	}
	return object(key, fi), nil
}

// Put writes key atomically.
func (f *FS) Put(ctx context.Context, key string, r io.Reader, opts store.PutOptions) (store.Object, error) {
	p, err := f.path(key)
	if err != nil {
		return store.Object{}, err
	}
	tmp, err := os.CreateTemp(filepath.Join(f.root, tmpDir), "put-*")
	if err != nil {
		return store.Object{}, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, store.ContextReader(ctx, r)); err != nil {
		return store.Object{}, err
	}
	if err := tmp.Sync(); err != nil {
		return store.Object{}, err
	}
	if err := tmp.Close(); err != nil {
		return store.Object{}, err
	}
	mu := f.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if opts.IfNoneMatch || opts.IfMatch != "" {
		cur, err := f.Stat(ctx, key)
		switch {
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return store.Object{}, err
		case opts.IfNoneMatch && err == nil:
			return store.Object{}, store.ErrPrecondition
		case opts.IfMatch != "" && (err != nil || cur.ETag != opts.IfMatch):
			return store.Object{}, store.ErrPrecondition
		}
	}
	dir := filepath.Dir(p)
	// A Delete of a sibling may prune the directory (or a parent, while
	// MkdirAll is creating it) before the rename; a few retries settle it.
	for attempt := 0; ; attempt++ {
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = os.Rename(tmp.Name(), p)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 4 {
			return store.Object{}, invalidName(err)
		}
	}
	done = true
	syncDir(dir)
	fi, err := os.Stat(p)
	if err != nil {
		return store.Object{}, err
	}
	return object(key, fi), nil
}

// Delete removes key and any directories it leaves empty.
func (f *FS) Delete(ctx context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	mu := f.lock(key)
	mu.Lock()
	err = os.Remove(p)
	mu.Unlock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for dir := filepath.Dir(p); dir != f.root && strings.HasPrefix(dir, f.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty, or raced with a writer: leave it
		}
	}
	return nil
}

// List walks the directory the prefix falls in. Keys are sorted in byte
// order, as S3 returns them, which a directory walk does not give.
func (f *FS) List(ctx context.Context, prefix, after string, limit int) ([]store.Object, error) {
	// A prefix can name no key with a "." or ".." segment, and such a
	// prefix must not walk outside the root.
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "." || seg == ".." {
			return nil, store.ErrInvalidKey
		}
	}
	base := prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = prefix[:i]
	} else {
		base = ""
	}
	start := filepath.Join(f.root, filepath.FromSlash(base))
	var out []store.Object
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(f.root, p)
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == tmpDir {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) || key <= after {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // deleted during the walk
		}
		out = append(out, object(key, fi))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// notFound maps a failed lookup: a name too long to exist is not found.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG) {
		return store.ErrNotFound
	}
	return err
}

// invalidName maps a write refused for the key's shape.
func invalidName(err error) error {
	if errors.Is(err, syscall.ENAMETOOLONG) {
		return store.ErrInvalidKey
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
