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
// parsed as form-encoded. On an error the request is returned too when
// it may hold a staged file, for the caller to close.
func parse(r *http.Request, tmpDir string, max int64) (*request, error) {
	req := &request{params: url.Values{}}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		if params["boundary"] == "" {
			return nil, clderr.BadRequest("Invalid multipart body: no boundary")
		}
		return req, req.readMultipart(r, tmpDir, max)
	}
	return req, req.readForm(r.Body, tmpDir, max)
}

// readForm reads a form-encoded body as it arrives, with the limits of
// multipart fields, decoding as url.ParseQuery does. The file parameter
// is not held in memory: a data: URI is decoded into a temporary file
// (refused past max decoded bytes, however much URL encoding inflated
// it), anything else (a URL) is kept in fileStr.
func (req *request) readForm(body io.Reader, tmpDir string, max int64) error {
	br := bufio.NewReaderSize(body, 32<<10)
	formBytes, fields, sawFile := 0, 0, false
	for {
		k := &formToken{br: br, key: true}
		key, ok, err := k.text(maxFieldBytes)
		if err != nil {
			return err
		}
		if !ok {
			return clderr.BadRequest("Parameter name too long")
		}
		end := k.end
		formBytes++ // the separator: empty pairs count too
		if len(key) == 0 && end != '=' {
			// An empty pair ("a=1&&b=2"), skipped as url.ParseQuery does.
			if end == 0 {
				return nil
			}
			if formBytes > maxFormBytes {
				return clderr.BadRequest("Invalid form body")
			}
			continue
		}
		if fields++; fields > maxFieldsCount {
			return clderr.BadRequest("Too many parameters")
		}
		name := string(key)
		v := &formToken{br: br}
		if end != '=' { // a name alone: an empty value
			v.end, v.err = end, io.EOF
		}
		if name == "file" {
			if sawFile {
				return clderr.BadRequest("Only one file can be uploaded per request")
			}
			sawFile = true
			if err := req.readFormFile(v, tmpDir, max); err != nil {
				return err
			}
		} else {
			val, ok, err := v.text(maxFieldBytes)
			if err != nil {
				return err
			}
			formBytes += len(key) + len(val)
			if !ok || formBytes > maxFormBytes {
				return clderr.BadRequest("Parameter %s is too long", name)
			}
			req.params.Add(name, string(val))
		}
		if v.end == 0 {
			return nil
		}
	}
}

// readFormFile reads the file parameter of a form-encoded body: a data:
// URI is staged, as from a multipart field; anything else is a short
// string such as a URL. max 0 means no file is expected: the value is
// kept as a string for the caller to refuse.
func (req *request) readFormFile(v *formToken, tmpDir string, max int64) error {
	br := bufio.NewReaderSize(v, 512)
	if head, _ := br.Peek(5); max > 0 && string(head) == "data:" {
		err := req.stageDataURI(br, tmpDir, max)
		if ferr := v.fault(); ferr != nil {
			return ferr // the body's fault, not the data URI's
		}
		if err != nil {
			return err
		}
		if v.err == nil {
			// The base64 decoder ends only at the value's end; make sure.
			io.Copy(io.Discard, v)
			return v.fault()
		}
		return nil
	}
	s, err := io.ReadAll(io.LimitReader(br, maxFieldBytes+1))
	if ferr := v.fault(); ferr != nil {
		return ferr
	}
	if err != nil || len(s) > maxFieldBytes {
		return clderr.BadRequest("Invalid file parameter")
	}
	req.fileStr = string(s)
	return nil
}

// errFormSyntax is a malformed form body: a bad percent escape or a ';'
// separator, both refused by url.ParseQuery too.
var errFormSyntax = errors.New("malformed form body")

// formToken reads one name or value of a form-encoded body from br,
// decoding it as url.QueryUnescape does ("%41" is "A", "+" a space). It
// ends at '&', a name also at '=', or at the end of the body; it then
// reads io.EOF and end says which ('&', '=', or 0 at the end).
type formToken struct {
	br  *bufio.Reader
	key bool  // a name, ended by '=' too
	end byte  // what ended the token, once err is io.EOF
	err error // io.EOF when ended, errFormSyntax, or the body's read error
}

func (t *formToken) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && t.err == nil {
		if _, err := t.br.Peek(1); err != nil {
			if err == io.EOF {
				t.end, t.err = 0, io.EOF
			} else {
				t.err = err
			}
			break
		}
		buf, _ := t.br.Peek(t.br.Buffered())
		i := 0
	scan:
		for ; i < len(buf) && n < len(p); i++ {
			switch c := buf[i]; {
			case c == '&' || c == '=' && t.key:
				t.end, t.err = c, io.EOF
				i++
				break scan
			case c == ';':
				t.err = errFormSyntax
				break scan
			case c == '+':
				p[n] = ' '
			case c == '%':
				if i+2 >= len(buf) {
					if i > 0 {
						break scan // read on from the escape
					}
					var err error
					if buf, err = t.br.Peek(3); len(buf) < 3 {
						if err == io.EOF {
							err = errFormSyntax // cut short by the end
						}
						t.err = err
						break scan
					}
				}
				hi, ok1 := unhex(buf[i+1])
				lo, ok2 := unhex(buf[i+2])
				if !ok1 || !ok2 {
					t.err = errFormSyntax
					break scan
				}
				p[n] = hi<<4 | lo
				i += 2
			default:
				p[n] = c
			}
			n++
		}
		t.br.Discard(i)
	}
	if n > 0 {
		return n, nil
	}
	return 0, t.err
}

// text reads the rest of the token, up to limit decoded bytes: ok is
// false when it is longer.
func (t *formToken) text(limit int) (b []byte, ok bool, err error) {
	b, _ = io.ReadAll(io.LimitReader(t, int64(limit)+1))
	if err := t.fault(); err != nil {
		return nil, false, err
	}
	return b, len(b) <= limit, nil
}

// fault is the client error for the token's read error, nil when there
// was none. A body over its size cap keeps its *http.MaxBytesError for
// the caller to word.
func (t *formToken) fault() error {
	var mbe *http.MaxBytesError
	switch {
	case t.err == nil || t.err == io.EOF:
		return nil
	case t.err == errFormSyntax:
		return clderr.BadRequest("Invalid form body")
	case errors.As(t.err, &mbe):
		return errors.Join(clderr.BadRequest("Request body too large"), t.err)
	}
	return clderr.BadRequest("Could not read the request body")
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
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
	if old := req.file; old != nil {
		// Gone whether or not the new file stages: close only knows one.
		defer func() {
			old.Close()
			os.Remove(old.Name())
		}()
	}
	req.file, req.size, req.md5 = nil, 0, ""
	return req.stage(bytes.NewReader(body), tmpDir, int64(len(body)))
}
