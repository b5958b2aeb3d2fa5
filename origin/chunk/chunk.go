// Package chunk assembles chunked uploads (the SDKs' upload_large) in a
// Store. Origin nodes share the Store and a load balancer may send each
// chunk of one upload to a different node, so all state is in the Store:
// one object per chunk, under chunks/<cloud>/<upload id>/<start>-<end>
// (zero-padded, so keys sort by offset), and the file's size, once a
// chunk declares it, under .../total.
//
// What cloudinary-go v2.14.0 sends (api/uploader/upload.go,
// postLargeIOReader): a file larger than Config.API.ChunkSize (default
// 20000000 bytes) is cut into chunks of ChunkSize, the last one shorter,
// and POSTed one at a time, in order, to /v1_1/<cloud>/auto/upload (Go
// always uses auto). Each POST is a complete multipart request: every
// upload parameter again, with the same timestamp and signature (signed
// once, before the first chunk), and the chunk as the "file" part named
// after the file. Headers: X-Unique-Upload-Id, 16 hex digits (the start
// of a SHA-1 of a UUID), the same on every chunk, and Content-Range:
// bytes <start>-<end>/<size>, end inclusive, size always known. The
// response to a chunk is read whole and dropped unless it is the last,
// so the status and any error on an earlier chunk are ignored and the
// next chunk is sent anyway; only a transport error stops the upload.
// The last chunk's response is decoded as the upload result, and an
// error there is what the caller sees. So a failed chunk must make the
// last chunk fail, which it does here: the upload is not done.
// The Ruby gem (cloudinary 1.29, upload_large) also sends chunks in
// order with the size known, but raises on an "error" in any chunk's
// response. Neither sends an unknown size; -1 and * are accepted as one
// anyway, on any chunk but the one that completes the file.
//
// Chunks arriving concurrently can make Put report done on more than
// one node; the caller stores the assembled file idempotently or
// tolerates a duplicate version.
package chunk

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/shared/clderr"
)

const (
	// DefaultMaxChunks bounds the objects one upload may make, and so the
	// cost of listing it on every chunk: 256 chunks of the SDKs' 20 MB
	// (or the 5 MB some clients use) is past any file an origin takes.
	DefaultMaxChunks = 256
	maxIDLen         = 64
	root             = "chunks/"
	totalName        = "total"
	ownerName        = "owner"
)

// Assembler stores chunks in Store and assembles them.
type Assembler struct {
	Store     store.Store
	MaxBytes  int64 // largest assembled file; must be set
	MaxChunks int   // most chunks in one upload; 0 means DefaultMaxChunks
}

func (a *Assembler) maxChunks() int {
	if a.MaxChunks > 0 {
		return a.MaxChunks
	}
	return DefaultMaxChunks
}

// ParseContentRange parses "bytes <start>-<end>/<total>", end inclusive.
// total is -1 when given as -1 or * (not known yet).
func ParseContentRange(h string) (start, end, total int64, err error) {
	bad := func() (int64, int64, int64, error) {
		return 0, 0, 0, clderr.BadRequest("Invalid Content-Range header: want bytes <start>-<end>/<total>")
	}
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return bad()
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return bad()
	}
	s, e, ok := strings.Cut(rng, "-")
	if !ok {
		return bad()
	}
	if start, ok = digits(s); !ok {
		return bad()
	}
	if end, ok = digits(e); !ok || end < start {
		return bad()
	}
	switch tot {
	case "-1", "*":
		total = -1
	default:
		if total, ok = digits(tot); !ok || end >= total {
			return bad()
		}
	}
	return start, end, total, nil
}

// digits parses a non-negative decimal of ASCII digits only:
// strconv.ParseInt alone would take signs.
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Put stores bytes start..end (inclusive) of upload uploadID, read from
// body, which must hold exactly that many bytes. total is the file's
// size, or -1 when not known yet. done reports that the chunks stored
// now make the whole file. Sending the same chunk again is harmless.
func (a *Assembler) Put(ctx context.Context, cloud, uploadID string, start, end, total int64, body io.Reader) (done bool, err error) {
	if err := a.checkPut(cloud, uploadID, start, end, total); err != nil {
		return false, err
	}
	dir := uploadDir(cloud, uploadID)
	spans, known, err := a.state(ctx, dir)
	if err != nil {
		return false, err
	}
	if total >= 0 && known >= 0 && total != known {
		return false, clderr.BadRequest("Content-Range total %d differs from the %d bytes an earlier chunk of upload %s gave", total, known, uploadID)
	}
	if total >= 0 && known < 0 {
		if known, err = a.setTotal(ctx, dir, uploadID, total); err != nil {
			return false, err
		}
	}
	if known >= 0 && end >= known {
		return false, clderr.BadRequest("Chunk bytes %d-%d are past the end of the file (%d bytes)", start, end, known)
	}
	again := false
	for _, s := range spans {
		switch {
		case s.start == start && s.end == end:
			again = true
		case s.start <= end && start <= s.end:
			return false, clderr.BadRequest("Chunk bytes %d-%d overlap bytes %d-%d already received for upload %s", start, end, s.start, s.end, uploadID)
		case known >= 0 && s.end >= known:
			return false, clderr.BadRequest("Upload %s has bytes %d-%d, past the end of the file (%d bytes)", uploadID, s.start, s.end, known)
		}
	}
	if !again && len(spans) >= a.maxChunks() {
		return false, clderr.BadRequest("Upload %s has too many chunks: at most %d", uploadID, a.maxChunks())
	}
	if err := a.putChunk(ctx, dir+chunkName(start, end), uploadID, start, end, body); err != nil {
		return false, err
	}
	// Listed again: another node may have stored the missing chunks.
	if spans, known, err = a.state(ctx, dir); err != nil {
		return false, err
	}
	gap, err := firstGap(spans, known, uploadID)
	return err == nil && gap < 0, err
}

func (a *Assembler) checkPut(cloud, uploadID string, start, end, total int64) error {
	if a.MaxBytes <= 0 {
		return errors.New("chunk: Assembler.MaxBytes is not set")
	}
	if err := checkNames(cloud, uploadID); err != nil {
		return err
	}
	if start < 0 || end < start || total < -1 || total >= 0 && end >= total {
		return clderr.BadRequest("Invalid Content-Range bytes %d-%d/%d", start, end, total)
	}
	if end >= a.MaxBytes || total > a.MaxBytes {
		return clderr.BadRequest("File size too large. Got %d. Maximum is %d.", max(total, end+1), a.MaxBytes)
	}
	return nil
}

func checkNames(cloud, uploadID string) error {
	if !validName(uploadID) {
		return clderr.BadRequest("Invalid X-Unique-Upload-Id: use 1 to %d letters, digits, _ or -", maxIDLen)
	}
	// Cloud names come from the registry; they only need to be one key segment.
	if strings.Contains(cloud, "/") || !store.ValidKey(cloud) {
		return clderr.BadRequest("Invalid cloud name for a chunked upload")
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func uploadDir(cloud, uploadID string) string { return root + cloud + "/" + uploadID + "/" }

func chunkName(start, end int64) string { return fmt.Sprintf("%020d-%020d", start, end) }

// span is one stored chunk, bytes start..end inclusive.
type span struct {
	start, end int64
	key        string
}

// state lists an upload's chunks in offset order, and its size or -1.
func (a *Assembler) state(ctx context.Context, dir string) ([]span, int64, error) {
	// The chunks, the size and the owner; more means writers raced past
	// the limit.
	objs, err := a.Store.List(ctx, dir, "", a.maxChunks()+3)
	if err != nil {
		return nil, 0, err
	}
	if len(objs) > a.maxChunks()+2 {
		return nil, 0, clderr.BadRequest("Upload has too many chunks: at most %d", a.maxChunks())
	}
	var spans []span
	total := int64(-1)
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, dir)
		if name == totalName {
			if total, err = a.readTotal(ctx, o.Key); err != nil {
				return nil, 0, err
			}
			continue
		}
		if s, ok := parseChunkName(name); ok {
			s.key = o.Key
			spans = append(spans, s)
		}
	}
	return spans, total, nil
}

func parseChunkName(name string) (span, bool) {
	a, b, ok := strings.Cut(name, "-")
	if !ok || len(a) != 20 || len(b) != 20 {
		return span{}, false
	}
	start, ok1 := strconv.ParseUint(a, 10, 63)
	end, ok2 := strconv.ParseUint(b, 10, 63)
	if ok1 != nil || ok2 != nil || end < start {
		return span{}, false
	}
	return span{start: int64(start), end: int64(end)}, true
}

func (a *Assembler) readTotal(ctx context.Context, key string) (int64, error) {
	b, _, err := store.ReadAll(ctx, a.Store, key, 32)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("chunk: corrupt %s: %q", key, b)
	}
	return n, nil
}

// Claim binds an upload id to its owner, a digest of what authorised its
// first chunk: the first claim wins, and ok reports whether owner is the
// one recorded. A chunk whose owner differs belongs to another request
// and must not add to, or complete, this upload. With create false an
// upload nobody has claimed yet is not claimed (ok is false).
func (a *Assembler) Claim(ctx context.Context, cloud, uploadID, owner string, create bool) (ok bool, err error) {
	if err := checkNames(cloud, uploadID); err != nil {
		return false, err
	}
	key := uploadDir(cloud, uploadID) + ownerName
	if create {
		_, err = a.Store.Put(ctx, key, strings.NewReader(owner), store.PutOptions{IfNoneMatch: true})
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, store.ErrPrecondition) {
			return false, err
		}
	}
	b, _, err := store.ReadAll(ctx, a.Store, key, 1024)
	if errors.Is(err, store.ErrNotFound) && !create {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return string(b) == owner, nil
}

// setTotal records the file's size; the first chunk to declare one wins
// and the size returned is the recorded one.
func (a *Assembler) setTotal(ctx context.Context, dir, uploadID string, total int64) (int64, error) {
	_, err := a.Store.Put(ctx, dir+totalName, strings.NewReader(strconv.FormatInt(total, 10)), store.PutOptions{IfNoneMatch: true})
	if !errors.Is(err, store.ErrPrecondition) {
		return total, err
	}
	known, err := a.readTotal(ctx, dir+totalName)
	if err == nil && known != total {
		err = clderr.BadRequest("Content-Range total %d differs from the %d bytes an earlier chunk of upload %s gave", total, known, uploadID)
	}
	return known, err
}

// putChunk stores body under key, refusing a body of another length
// than the range's. A chunk already stored is kept, but only if the
// body has the same bytes: a retry, not a different file.
func (a *Assembler) putChunk(ctx context.Context, key, uploadID string, start, end int64, body io.Reader) error {
	h := md5.New()
	er := &exactReader{r: body, left: end - start + 1}
	_, err := a.Store.Put(ctx, key, io.TeeReader(er, h), store.PutOptions{IfNoneMatch: true})
	if errors.Is(err, store.ErrPrecondition) {
		// The store may refuse before reading the body; read the rest.
		_, err = io.Copy(h, er)
		if err == nil {
			var same bool
			if same, err = a.sameMD5(ctx, key, h.Sum(nil)); err == nil && !same {
				return clderr.BadRequest("Chunk bytes %d-%d of upload %s differ from the ones already received", start, end, uploadID)
			}
		}
	}
	var le *lengthError
	if errors.As(err, &le) {
		return clderr.BadRequest("Chunk body is %s than the %d bytes of Content-Range bytes %d-%d", le.word(), end-start+1, start, end)
	}
	return err
}

func (a *Assembler) sameMD5(ctx context.Context, key string, sum []byte) (bool, error) {
	rc, _, err := a.Store.Get(ctx, key)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	h := md5.New()
	if _, err := io.Copy(h, rc); err != nil {
		return false, err
	}
	return bytes.Equal(h.Sum(nil), sum), nil
}

// firstGap returns the offset of the first byte no chunk holds, or -1
// when the chunks hold 0..total-1 exactly. Put refuses overlaps and
// chunks past the end, so those come only from chunks racing on several
// nodes with different ideas of the file, and the upload is unusable.
func firstGap(spans []span, total int64, uploadID string) (int64, error) {
	var pos int64
	for _, s := range spans {
		if s.start > pos {
			return pos, nil
		}
		if s.start < pos {
			return 0, clderr.BadRequest("Upload %s has overlapping chunks: start it again", uploadID)
		}
		pos = s.end + 1
	}
	switch {
	case total < 0 || pos < total:
		return pos, nil
	case pos > total:
		return 0, clderr.BadRequest("Upload %s has chunks past the end of the file: start it again", uploadID)
	}
	return -1, nil
}

// Assemble writes the whole file to w, chunk by chunk, streaming each
// from the Store. It fails if a chunk is missing.
func (a *Assembler) Assemble(ctx context.Context, cloud, uploadID string, w io.Writer) (int64, error) {
	if err := checkNames(cloud, uploadID); err != nil {
		return 0, err
	}
	spans, total, err := a.state(ctx, uploadDir(cloud, uploadID))
	if err != nil {
		return 0, err
	}
	gap, err := firstGap(spans, total, uploadID)
	switch {
	case err != nil:
		return 0, err
	case gap >= 0 && total < 0:
		return 0, clderr.BadRequest("Upload %s is incomplete: no chunk has given the file's size", uploadID)
	case gap >= 0:
		return 0, clderr.BadRequest("Upload %s is incomplete: byte %d of %d has not been received", uploadID, gap, total)
	}
	var n int64
	for _, s := range spans {
		m, err := a.copyChunk(ctx, w, s)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (a *Assembler) copyChunk(ctx context.Context, w io.Writer, s span) (int64, error) {
	rc, obj, err := a.Store.Get(ctx, s.key)
	if err != nil {
		return 0, fmt.Errorf("chunk: %s: %w", s.key, err)
	}
	defer rc.Close()
	size := s.end - s.start + 1
	if obj.Size != size {
		return 0, fmt.Errorf("chunk: %s holds %d bytes", s.key, obj.Size)
	}
	n, err := io.Copy(w, io.LimitReader(rc, size))
	if err == nil && n != size {
		err = fmt.Errorf("chunk: %s: %w", s.key, io.ErrUnexpectedEOF)
	}
	return n, err
}

// Remove deletes an upload's chunks, once assembled or abandoned.
func (a *Assembler) Remove(ctx context.Context, cloud, uploadID string) error {
	if err := checkNames(cloud, uploadID); err != nil {
		return err
	}
	for after := ""; ; {
		objs, err := a.Store.List(ctx, uploadDir(cloud, uploadID), after, 1000)
		if err != nil || len(objs) == 0 {
			return err
		}
		for _, o := range objs {
			if err := a.Store.Delete(ctx, o.Key); err != nil {
				return err
			}
		}
		after = objs[len(objs)-1].Key
	}
}

// Sweep removes the uploads, of every cloud, that have not received a
// chunk since before, and returns how many. An upload is removed whole,
// never one stale chunk of an upload still under way.
func (a *Assembler) Sweep(ctx context.Context, before time.Time) (int, error) {
	removed := 0
	var dir string
	var keys []string
	var newest time.Time
	flush := func() error {
		if len(keys) > 0 && newest.Before(before) {
			for _, k := range keys {
				if err := a.Store.Delete(ctx, k); err != nil {
					return err
				}
			}
			removed++
		}
		keys, newest = keys[:0], time.Time{}
		return nil
	}
	after := ""
	for {
		objs, err := a.Store.List(ctx, root, after, 1000)
		if err != nil {
			return removed, err
		}
		if len(objs) == 0 {
			return removed, flush()
		}
		for _, o := range objs {
			if d := path.Dir(o.Key); d != dir {
				if err := flush(); err != nil {
					return removed, err
				}
				dir = d
			}
			keys = append(keys, o.Key)
			if o.Modified.After(newest) {
				newest = o.Modified
			}
		}
		after = objs[len(objs)-1].Key
	}
}

// exactReader passes on exactly left bytes and fails if the body is
// shorter or longer, so that a wrong chunk is never stored.
type exactReader struct {
	r    io.Reader
	left int64
}

type lengthError struct{ long bool }

func (e *lengthError) Error() string { return "chunk: body is " + e.word() + " than its range" }

func (e *lengthError) word() string {
	if e.long {
		return "longer"
	}
	return "shorter"
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		var b [1]byte
		n, err := io.ReadFull(e.r, b[:])
		if n > 0 {
			return 0, &lengthError{long: true}
		}
		return 0, err // io.EOF: the body ends where it should
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, &lengthError{}
	}
	return n, err
}
