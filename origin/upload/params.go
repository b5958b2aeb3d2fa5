package upload

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/refract-cdn/refract/shared/clderr"
)

// Limits on the non-file part of a request.
const (
	maxFieldBytes  = 64 << 10
	maxFormBytes   = 1 << 20
	maxFieldsCount = 200
)

// request is a parsed upload: its parameters and, when a file was sent,
// the file staged in a temporary file.
type request struct {
	params   url.Values
	file     *os.File // nil when no file part was sent
	filename string   // the client's file name, if any
	size     int64
	md5      string
	fileStr  string // the file parameter when sent as a string
}

func (r *request) close() {
	if r.file != nil {
		r.file.Close()
		os.Remove(r.file.Name())
	}
}

// parse reads a multipart or form-encoded body. A file is streamed to a
// temporary file in tmpDir, never held in memory, and refused past max
// bytes. Form bodies without a Content-Type (the SDKs send them so) are
// parsed as form-encoded.
func parse(r *http.Request, tmpDir string, max int64) (*request, error) {
	req := &request{params: url.Values{}}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		if params["boundary"] == "" {
			return nil, clderr.BadRequest("Invalid multipart body: no boundary")
		}
		return req, req.readMultipart(r, tmpDir, max)
	}
	// A data: URI is base64, a third larger than the file it carries.
	limit := max*4/3 + maxFormBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, clderr.BadRequest("Could not read the request body")
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(int64(len(body)), max)
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, clderr.BadRequest("Invalid form body")
	}
	req.fileStr = vals.Get("file")
	vals.Del("file")
	req.params = vals
	return req, nil
}

func (req *request) readMultipart(r *http.Request, tmpDir string, max int64) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return clderr.BadRequest("Invalid multipart body")
	}
	formBytes := 0
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return clderr.BadRequest("Invalid multipart body")
		}
		if n > maxFieldsCount {
			return clderr.BadRequest("Too many parameters")
		}
		name := part.FormName()
		if name == "file" {
			if req.file != nil || req.fileStr != "" {
				return clderr.BadRequest("Only one file can be uploaded per request")
			}
			if err := req.readFilePart(part, tmpDir, max); err != nil {
				return err
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return clderr.BadRequest("Invalid multipart body")
		}
		formBytes += len(v)
		if len(v) > maxFieldBytes || formBytes > maxFormBytes {
			return clderr.BadRequest("Parameter %s is too long", name)
		}
		req.params.Add(name, string(v))
	}
}

// readFilePart takes the file from a multipart part: a file, or a data:
// URI streamed through a base64 decoder (some SDKs send those as plain
// fields, and they can be as large as any file), or a short string such
// as a URL.
func (req *request) readFilePart(part *multipart.Part, tmpDir string, max int64) error {
	if part.FileName() != "" {
		req.filename = part.FileName()
		return req.stage(part, tmpDir, max)
	}
	br := bufio.NewReaderSize(part, 512)
	if head, _ := br.Peek(5); string(head) == "data:" {
		return req.stageDataURI(br, tmpDir, max)
	}
	v, err := io.ReadAll(io.LimitReader(br, maxFieldBytes+1))
	if err != nil || len(v) > maxFieldBytes {
		return clderr.BadRequest("Invalid file parameter")
	}
	req.fileStr = string(v)
	return nil
}

// stage copies a file to a temporary file, hashing it on the way.
func (req *request) stage(r io.Reader, tmpDir string, max int64) error {
	f, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return err
	}
	req.file = f
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, max+1))
	if err != nil {
		return clderr.BadRequest("Could not read the file: %v", err)
	}
	if n > max {
		return tooLarge(n, max)
	}
	req.size, req.md5 = n, hex.EncodeToString(h.Sum(nil))
	_, err = f.Seek(0, io.SeekStart)
	return err
}

// stageDataURI decodes a data: URI ("data:<mime>;base64,<data>") read
// from r into a temporary file, without holding it in memory.
func (req *request) stageDataURI(r io.Reader, tmpDir string, max int64) error {
	br := bufio.NewReaderSize(r, 512)
	head, err := br.ReadSlice(',')
	if err != nil || !bytes.HasPrefix(head, []byte("data:")) || !bytes.HasSuffix(head, []byte(";base64,")) {
		return clderr.BadRequest("Invalid data URI: only base64 data is supported")
	}
	return req.stage(base64.NewDecoder(base64.StdEncoding, br), tmpDir, max)
}

// bool reads a boolean parameter the way the SDKs write them.
func boolParam(v url.Values, key string, def bool) bool {
	switch strings.ToLower(v.Get(key)) {
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	}
	return def
}

func tooLarge(got, max int64) error {
	return clderr.BadRequest("File size too large. Got %d. Maximum is %d.", got, max)
}

// replace swaps the staged file for body (an incoming transformation's
// result).
func (req *request) replace(body []byte, tmpDir string) error {
	old := req.file
	req.file, req.size, req.md5 = nil, 0, ""
	if err := req.stage(bytes.NewReader(body), tmpDir, int64(len(body))); err != nil {
		return err
	}
	if old != nil {
		old.Close()
		os.Remove(old.Name())
	}
	return nil
}
