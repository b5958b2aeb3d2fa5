package upload

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/refract-cdn/refract/shared/clderr"
)

// formRequest is a form-encoded upload as the SDKs send one: no
// Content-Type.
func formRequest(body io.Reader) *http.Request {
	return httptest.NewRequest(http.MethodPost, "/v1_1/demo/image/upload", body)
}

func parseForm(t *testing.T, body string, max int64) (*request, error) {
	t.Helper()
	req, err := parse(formRequest(strings.NewReader(body)), t.TempDir(), max)
	if req != nil {
		t.Cleanup(req.close)
	}
	return req, err
}

// wantRefused checks err is a 400 with message msg.
func wantRefused(t *testing.T, what string, err error, msg string) {
	t.Helper()
	if err == nil || clderr.Status(err) != http.StatusBadRequest || clderr.Message(err) != msg {
		t.Errorf("%s: got %v (status %d), want 400 %q", what, err, clderr.Status(err), msg)
	}
}

// checkStaged checks the staged file holds data.
func checkStaged(t *testing.T, req *request, data []byte) {
	t.Helper()
	if req.file == nil {
		t.Fatal("no file staged")
	}
	sum := md5.Sum(data)
	if req.size != int64(len(data)) || req.md5 != hex.EncodeToString(sum[:]) {
		t.Errorf("staged %d bytes, md5 %s; want %d bytes, md5 %x", req.size, req.md5, len(data), sum)
	}
	got, err := io.ReadAll(req.file)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("staged file differs (%d bytes read, %v)", len(got), err)
	}
	if req.fileStr != "" {
		t.Errorf("fileStr = %.40q, want empty", req.fileStr)
	}
}

func dataURI(mime string, data []byte) string {
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data)
}

// A large data: URI sent form-encoded (as the Go SDK's postForm does) is
// decoded into the staged file as it arrives: parsing allocates a small
// fraction of the file, and the file may be max bytes even though URL
// encoding makes the body larger than max*4/3 plus the form limit.
func TestParseFormStreamsDataURI(t *testing.T) {
	data := make([]byte, 15<<20)
	rand.NewChaCha8([32]byte{1}).Read(data)
	vals := url.Values{
		"file":      {dataURI("image/png", data)},
		"public_id": {"folder/a b+c"},
		"timestamp": {"1700000000"},
		"api_key":   {"key"},
		"signature": {"sig"},
	}
	body := vals.Encode()
	max := int64(len(data))
	if int64(len(body)) <= max*4/3+maxFormBytes {
		t.Fatalf("the body (%d bytes) should exceed the old encoded-length limit", len(body))
	}
	r := formRequest(strings.NewReader(body))
	dir := t.TempDir()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, err := parse(r, dir, max)
	runtime.ReadMemStats(&after)
	if req != nil {
		defer req.close()
	}
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("parsing a %d-byte body allocated %d bytes", len(body), alloc)
	if alloc > 4<<20 {
		t.Errorf("allocated %d bytes, want < 4 MB", alloc)
	}
	checkStaged(t, req, data)
	delete(vals, "file")
	if !reflect.DeepEqual(req.params, vals) {
		t.Errorf("params = %v, want %v", req.params, vals)
	}
}

// plusSlash is n bytes whose base64 is all '+' and '/', each of which
// URL encoding triples.
func plusSlash(n int) []byte {
	b := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, n/3+1)[:n]
	return b
}

func TestParseFormDataURIMax(t *testing.T) {
	const max = 3001 // not a multiple of 3: the base64 ends with "=="
	data := plusSlash(max)
	body := url.Values{"file": {dataURI("application/octet-stream", data)}, "timestamp": {"1"}}.Encode()
	if n := strings.Count(body, "%2B") + strings.Count(body, "%2F"); n < 4000 {
		t.Fatalf("only %d escaped + and / in the body", n)
	}
	req, err := parseForm(t, body, max)
	if err != nil {
		t.Fatal(err)
	}
	checkStaged(t, req, data)
	if req.params.Get("timestamp") != "1" {
		t.Errorf("params = %v", req.params)
	}

	body = url.Values{"file": {dataURI("application/octet-stream", plusSlash(max+1))}}.Encode()
	_, err = parseForm(t, body, max)
	wantRefused(t, "max+1 bytes", err, "File size too large. Got 3002. Maximum is 3001.")
}

func TestParseFormMalformed(t *testing.T) {
	for _, body := range []string{
		"a=%zz",
		"a=%4",
		"a=1%",
		"a=%",
		"fil%6=x",
		"a=1;b=2",
		"a;b",
		"file=https%3A%2F%2Fexample.com%2Fa%2x.jpg",
		"file=data:image/png%3Bbase64%2CAAAA%G0AA",
		"file=data:image/png%3Bbase64%2CAAAA%",
		"file=data:image/png%3Bbase64%2CAAAA%4",
		"file=data:image/png%3Bbase64%2CAA;AA",
		"timestamp=1&file=data:image/png%3Bbase64%2CAAAA&x=%",
	} {
		if _, err := url.ParseQuery(body); err == nil {
			t.Errorf("url.ParseQuery(%q) succeeded: not a malformed body", body)
		}
		_, err := parseForm(t, body, 1000)
		wantRefused(t, body, err, "Invalid form body")
	}
	// An escape split across reads of the body is not malformed.
	data := plusSlash(100 << 10)
	body := url.Values{"file": {dataURI("image/png", data)}}.Encode()
	req, err := parse(formRequest(io.MultiReader(strings.NewReader(body[:1000]), iotestHalf(strings.NewReader(body[1000:])))), t.TempDir(), 1<<20)
	if req != nil {
		defer req.close()
	}
	if err != nil {
		t.Fatal(err)
	}
	checkStaged(t, req, data)
}

// iotestHalf reads at most 7 bytes at a time, so that escapes straddle
// reads.
func iotestHalf(r io.Reader) io.Reader { return &smallReader{r} }

type smallReader struct{ r io.Reader }

func (s *smallReader) Read(p []byte) (int, error) {
	if len(p) > 7 {
		p = p[:7]
	}
	return s.r.Read(p)
}

func TestParseFormLimits(t *testing.T) {
	fields := func(n int) string {
		v := url.Values{}
		for i := range n {
			v.Add("k", strings.Repeat("x", i%10))
		}
		return v.Encode()
	}
	if req, err := parseForm(t, fields(maxFieldsCount), 0); err != nil || len(req.params["k"]) != maxFieldsCount {
		t.Errorf("%d fields: %v", maxFieldsCount, err)
	}
	_, err := parseForm(t, fields(maxFieldsCount+1), 0)
	wantRefused(t, "too many fields", err, "Too many parameters")
	_, err = parseForm(t, fields(maxFieldsCount)+"&file=x", 0)
	wantRefused(t, "too many fields with a file", err, "Too many parameters")

	// Values are measured decoded, as multipart fields are.
	long := strings.Repeat("/", maxFieldBytes)
	if req, err := parseForm(t, url.Values{"context": {long}}.Encode(), 0); err != nil || req.params.Get("context") != long {
		t.Errorf("a value of maxFieldBytes: %v", err)
	}
	_, err = parseForm(t, url.Values{"context": {long + "/"}}.Encode(), 0)
	wantRefused(t, "a long value", err, "Parameter context is too long")
	_, err = parseForm(t, url.Values{long + "/": {"1"}}.Encode(), 0)
	wantRefused(t, "a long name", err, "Parameter name too long")

	many := url.Values{}
	for i := range maxFormBytes/maxFieldBytes + 1 {
		many.Set(string(rune('a'+i)), long)
	}
	_, err = parseForm(t, many.Encode(), 0)
	if err == nil || !strings.Contains(clderr.Message(err), "is too long") {
		t.Errorf("a form over maxFormBytes: %v", err)
	}
	_, err = parseForm(t, strings.Repeat("&", maxFormBytes+1), 0)
	wantRefused(t, "endless separators", err, "Invalid form body")

	_, err = parseForm(t, "file="+strings.Repeat("x", maxFieldBytes+1), 1000)
	wantRefused(t, "a long file string", err, "Invalid file parameter")
}

func TestParseFormFileString(t *testing.T) {
	req, err := parseForm(t, "api_key=k&file=https%3A%2F%2Fexample.com%2Fa+b.jpg%3Fx%3D1&public_id=p", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if req.file != nil || req.fileStr != "https://example.com/a b.jpg?x=1" {
		t.Errorf("file %v, fileStr %q", req.file, req.fileStr)
	}
	if want := (url.Values{"api_key": {"k"}, "public_id": {"p"}}); !reflect.DeepEqual(req.params, want) {
		t.Errorf("params = %v, want %v", req.params, want)
	}

	// The management endpoints accept no file (max 0): a data: URI is
	// kept as a string for them to refuse.
	req, err = parseForm(t, "public_ids=a&file=data:image/png%3Bbase64%2CAAAA", 0)
	if err != nil || req.file != nil || req.fileStr != "data:image/png;base64,AAAA" {
		t.Errorf("max 0: file %v, fileStr %q, %v", req.file, req.fileStr, err)
	}
}

func TestParseFormDuplicateFile(t *testing.T) {
	for _, body := range []string{
		"file=a&file=b",
		"file=&file=b",
		"file&fil%65=b",
		"file=data:image/png%3Bbase64%2CAAAA&file=https%3A%2F%2Fexample.com%2Fa.jpg",
	} {
		_, err := parseForm(t, body, 1000)
		wantRefused(t, body, err, "Only one file can be uploaded per request")
	}
}

func TestParseFormEmpty(t *testing.T) {
	for _, body := range []string{"", "&", "timestamp=1", "file=", "file"} {
		req, err := parseForm(t, body, 1000)
		if err != nil || req.file != nil || req.fileStr != "" {
			t.Errorf("%q: file %v, fileStr %q, %v", body, req.file, req.fileStr, err)
			continue
		}
		if err := (&Handler{}).stageFile(t.Context(), req); clderr.Message(err) != "Missing required parameter - file" {
			t.Errorf("%q: stageFile = %v", body, err)
		}
	}
}

// Valid bodies parse as url.ParseQuery parses them.
func TestParseFormMatchesParseQuery(t *testing.T) {
	for _, body := range []string{
		"a=1&b=2&a=3",
		"=v",
		"=",
		"k",
		"k=",
		"&&a=1&&",
		"a=b=c&d==",
		"x+y=%41%2b+&z=%2525",
		"%E2%82%AC=%e2%82%ac",
		"a=1&file=https%3A%2F%2Fx&b=2",
		"tags=a%2Cb&context=alt%3Dx%7Ccaption%3Dy&eager=w_100%2Ch_100%7Cc_fill",
	} {
		want, err := url.ParseQuery(body)
		if err != nil {
			t.Fatal(err)
		}
		want.Del("file")
		req, err := parseForm(t, body, 1000)
		if err != nil {
			t.Errorf("%q: %v", body, err)
			continue
		}
		if !reflect.DeepEqual(req.params, want) {
			t.Errorf("%q: params = %q, want %q", body, req.params, want)
		}
	}
}

// A body over the caller's cap keeps its *http.MaxBytesError, which the
// caller words as too large, and is a 400 for callers that do not.
func TestParseFormBodyCap(t *testing.T) {
	data := plusSlash(30000)
	for name, body := range map[string]string{
		"in a data URI": url.Values{"file": {dataURI("image/png", data)}}.Encode(),
		"in a field":    url.Values{"context": {string(data[:20000])}}.Encode(),
	} {
		r := formRequest(strings.NewReader(body))
		r.Body = http.MaxBytesReader(nil, r.Body, 10000)
		req, err := parse(r, t.TempDir(), 1<<20)
		if req != nil {
			req.close()
		}
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) || mbe.Limit != 10000 || clderr.Status(err) != http.StatusBadRequest {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A data: URI that is not base64, or is corrupt, is refused as before.
func TestParseFormBadDataURI(t *testing.T) {
	_, err := parseForm(t, url.Values{"file": {"data:text/plain,hello"}}.Encode(), 1000)
	wantRefused(t, "not base64", err, "Invalid data URI: only base64 data is supported")
	_, err = parseForm(t, url.Values{"file": {"data:image/png;base64,AA!A"}}.Encode(), 1000)
	if err == nil || clderr.Status(err) != http.StatusBadRequest {
		t.Errorf("corrupt base64: %v", err)
	}
}

func FuzzParseForm(f *testing.F) {
	for _, s := range []string{
		"",
		"a=1&b=2&a=3",
		"api_key=k&file=data:image/png%3Bbase64%2CiVBORw0KGgo%3D&public_id=a+b&timestamp=1",
		"file=https%3A%2F%2Fexample.com%2Fa.jpg&signature=s",
		"=v&&k&x+y=%41%2b",
		"a=%zz;b",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte) {
		const max = 1 << 10
		req, err := parse(formRequest(bytes.NewReader(body)), dir, max)
		if req != nil {
			if req.file != nil {
				if err == nil && (req.size > max || req.fileStr != "") {
					t.Errorf("staged %d bytes (max %d), fileStr %q", req.size, max, req.fileStr)
				}
				name := req.file.Name()
				req.close()
				if _, serr := os.Stat(name); serr == nil {
					t.Errorf("%s left behind", name)
				}
			}
		}
		if err != nil {
			if s := clderr.Status(err); s != http.StatusBadRequest {
				t.Errorf("status %d: %v", s, err)
			}
		}
		// Small bodies url.ParseQuery accepts, without a file, parse the
		// same; and so do their url.Values.Encode forms.
		want, qerr := url.ParseQuery(string(body))
		if qerr != nil || want.Has("file") || len(body) > 4096 || strings.Count(string(body), "&") >= maxFieldsCount {
			return
		}
		if err != nil {
			t.Fatalf("url.ParseQuery accepts %q, parse: %v", body, err)
		}
		if !reflect.DeepEqual(req.params, want) {
			t.Fatalf("%q: params = %q, url.ParseQuery %q", body, req.params, want)
		}
		enc := want.Encode()
		req, err = parse(formRequest(strings.NewReader(enc)), dir, max)
		if err != nil || !reflect.DeepEqual(req.params, want) {
			t.Fatalf("%q: parse(%q) = %v, %v", body, enc, req, err)
		}
	})
}
