// Package store is the blob storage behind the origin: originals,
// derivatives and asset metadata all go through a Store. Writes are
// atomic (a reader sees the old object or the new one, never a mix), and
// conditional writes let several writers race on one key safely.
package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

var (
	// ErrNotFound means the key holds no object.
	ErrNotFound = errors.New("store: not found")
	// ErrPrecondition means a conditional write lost: the key exists
	// (IfNoneMatch) or holds another version (IfMatch).
	ErrPrecondition = errors.New("store: precondition failed")
	// ErrInvalidKey means the key is not one a Store accepts.
	ErrInvalidKey = errors.New("store: invalid key")
	// ErrUnavailable means the backend could not be reached or answered
	// with a server error after retries: the request may succeed later,
	// so callers answer 503 rather than 500. A failed write reported this
	// way may or may not have been applied.
	ErrUnavailable = errors.New("store: unavailable")
)

// Object describes a stored object. ETag changes whenever the object is
// replaced.
type Object struct {
	Key      string
	Size     int64
	ETag     string
	Modified time.Time
}

// PutOptions make a write conditional.
type PutOptions struct {
	IfNoneMatch bool   // create only: fail if the key exists
	IfMatch     string // replace only the object with this ETag
	ContentType string
}

// Store is a flat key space of immutable-once-written objects.
type Store interface {
	Get(ctx context.Context, key string) (io.ReadCloser, Object, error)
	Stat(ctx context.Context, key string) (Object, error)
	// Put writes r under key atomically, honouring opts.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Object, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns up to limit objects whose keys start with prefix and
	// sort after after, in byte order.
	List(ctx context.Context, prefix, after string, limit int) ([]Object, error)
}

// ValidKey reports whether key is usable on every backend: relative,
// "/"-separated, without empty, "." or ".." segments or control bytes.
func ValidKey(key string) bool {
	if key == "" || len(key) > 1024 || key[0] == '/' || key[len(key)-1] == '/' {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] == 0x7f {
			return false
		}
	}
	return true
}

// ReadAll reads a whole object, refusing one over max bytes.
func ReadAll(ctx context.Context, s Store, key string, max int64) ([]byte, Object, error) {
	rc, obj, err := s.Get(ctx, key)
	if err != nil {
		return nil, obj, err
	}
	defer rc.Close()
	if obj.Size > max {
		return nil, obj, errors.New("store: object too large")
	}
	// Sized up front: originals are megabytes, and growing by doubling
	// would copy them several times.
	buf := bytes.NewBuffer(make([]byte, 0, obj.Size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(rc, max+1)); err != nil {
		return nil, obj, err
	}
	if int64(buf.Len()) > max {
		return nil, obj, errors.New("store: object too large")
	}
	return buf.Bytes(), obj, nil
}

// ContextReader reads r until ctx ends: a copy into a store stops when
// its request does.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
