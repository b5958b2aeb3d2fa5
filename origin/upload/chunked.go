package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/refract-cdn/refract/origin/chunk"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/sign"
)

// chunkWindow is how old a chunk's signed timestamp may be: the SDKs
// sign a chunked upload once, before its first chunk, and a large file
// on a slow link takes longer than the usual hour.
const chunkWindow = 24 * time.Hour

// chunked takes one chunk of an upload_large: each is a whole signed
// request carrying a piece of the file. Pieces are kept in the store, so
// they may reach different origin nodes; the one that completes the
// file assembles it and stores the asset like any upload.
func (h *Handler) chunked(r *http.Request, c cloud.Cloud, rt string) (map[string]any, error) {
	if h.cfg.Chunks == nil {
		return nil, clderr.BadRequest("Chunked uploads are turned off")
	}
	id := r.Header.Get("X-Unique-Upload-Id")
	if id == "" {
		return nil, clderr.BadRequest("Missing X-Unique-Upload-Id header")
	}
	start, end, total, err := chunk.ParseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		return nil, err
	}
	if total > h.cfg.MaxBytes || end >= h.cfg.MaxBytes {
		return nil, tooLarge(max(total, end+1), h.cfg.MaxBytes)
	}
	size := end - start + 1
	r.Body = http.MaxBytesReader(nil, r.Body, size+2*maxFormBytes)
	req, err := parse(r, h.cfg.TempDir, size)
	if req != nil {
		defer req.close()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, clderr.BadRequest("Chunk larger than its Content-Range")
		}
		return nil, err
	}
	if err := flatten(req); err != nil {
		return nil, err
	}
	// Every chunk carries the same signed parameters, so their digest
	// names the request an upload belongs to: chunks of other requests
	// cannot join it, and a signature over an hour old is accepted only
	// for an upload it already started.
	owner := chunkOwner(req.params)
	if err := h.authorize(r, c, req.params, chunkWindow); err != nil {
		return nil, err
	}
	ts, _ := strconv.ParseInt(req.params.Get("timestamp"), 10, 64)
	fresh := ts == 0 || h.cfg.Now().Sub(time.Unix(ts, 0)) <= staleAfter
	ok, err := h.cfg.Chunks.Claim(r.Context(), c.Name, id, owner, fresh)
	if err != nil {
		return nil, storeErr(err)
	}
	if !ok {
		if !fresh {
			return nil, clderr.Unauthorized("Stale request - reported time is %s which is more than 1 hour ago",
				time.Unix(ts, 0).UTC().Format("2006-01-02 15:04:05 -0700"))
		}
		return nil, clderr.BadRequest("Upload %s belongs to another request", id)
	}
	if req.file == nil {
		return nil, clderr.BadRequest("Missing required parameter - file")
	}
	if req.size != size {
		return nil, clderr.BadRequest("Chunk of %d bytes for Content-Range %d-%d", req.size, start, end)
	}
	ctx := r.Context()
	done, err := h.cfg.Chunks.Put(ctx, c.Name, id, start, end, total, req.file)
	if err != nil {
		return nil, storeErr(err)
	}
	last := total >= 0 && end+1 == total
	if !done && !last {
		return map[string]any{"done": false, "upload_id": id, "bytes": end + 1}, nil
	}
	// The last piece: assemble (which names a missing piece if any).
	if err := h.assemble(ctx, c, id, req); err != nil {
		return nil, err
	}
	res, err := h.store(ctx, c, rt, req)
	if err == nil || final(err) {
		// Stored or refused for good: the pieces are no longer needed. A
		// retryable answer keeps them for the client's retry.
		h.cfg.Chunks.Remove(context.WithoutCancel(ctx), c.Name, id)
	}
	return res, err
}

// final says a refusal will not change on a retry.
func final(err error) bool {
	switch s := clderr.Status(err); s {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	default:
		return s >= 400 && s < 500
	}
}

// chunkOwner digests a chunk's parameters (signature included, the file
// excluded) as the SDKs send them on every chunk.
func chunkOwner(p url.Values) string {
	sum := sha256.Sum256([]byte(sign.UploadToSign(p) + "\x00" + p.Get("signature") + "\x00" + p.Get("api_key")))
	return hex.EncodeToString(sum[:])
}

// assemble replaces req's staged chunk with the whole file, streamed
// from the store's pieces into a new staged file.
func (h *Handler) assemble(ctx context.Context, c cloud.Cloud, id string, req *request) error {
	pr, pw := io.Pipe()
	asmErr := make(chan error, 1)
	go func() {
		_, err := h.cfg.Chunks.Assemble(ctx, c.Name, id, pw)
		pw.CloseWithError(err)
		asmErr <- err
	}()
	old := req.file
	req.file = nil
	err := req.stage(pr, h.cfg.TempDir, h.cfg.MaxBytes)
	pr.CloseWithError(errors.New("staging stopped")) // unblocks the writer
	if old != nil {
		old.Close()
		os.Remove(old.Name())
	}
	// The assembler's own error (a missing piece, the store down) says
	// more than the staging error it caused.
	if aerr := <-asmErr; aerr != nil {
		return storeErr(aerr)
	}
	return err
}
