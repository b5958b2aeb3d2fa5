package upload

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/refract-cdn/refract/origin/chunk"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
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
	window := staleAfter
	if start > 0 {
		window = chunkWindow
	}
	if err := h.authorize(r, c, req.params, window); err != nil {
		return nil, err
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
	if err == nil || clderr.Status(err) < 500 {
		// Stored or refused for good: the pieces are no longer needed.
		h.cfg.Chunks.Remove(context.WithoutCancel(ctx), c.Name, id)
	}
	return res, err
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
