package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/refract-cdn/refract/shared/clderr"
)

// maxBody bounds a request body: Admin API calls carry parameters only.
const maxBody = 1 << 20

// params are a request's parameters from the query and the body, which
// the SDKs send in different shapes: cloudinary-go sends JSON bodies on
// POST, PUT and DELETE and joins arrays with "," (public_ids=a,b); other
// clients send form bodies and "key[]" or "key[0]" array entries.
type params struct {
	v   map[string][]string
	arr map[string]bool // the key came in an array form: do not split on ","
}

func (p *params) add(key, val string, array bool) {
	if k, ok := arrayKey(key); ok {
		key, array = k, true
	}
	p.v[key] = append(p.v[key], val)
	if array {
		p.arr[key] = true
	}
}

// arrayKey strips "[]" or "[<n>]" from a key.
func arrayKey(k string) (string, bool) {
	if !strings.HasSuffix(k, "]") {
		return k, false
	}
	i := strings.LastIndexByte(k, '[')
	if i <= 0 {
		return k, false
	}
	for _, c := range k[i+1 : len(k)-1] {
		if c < '0' || c > '9' {
			return k, false
		}
	}
	return k[:i], true
}

func parseParams(r *http.Request) (params, error) {
	p := params{v: map[string][]string{}, arr: map[string]bool{}}
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			p.add(k, v, false)
		}
	}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return p, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return p, clderr.New(http.StatusRequestEntityTooLarge, "Request body is too large (over %d bytes)", maxBody)
		}
		return p, clderr.BadRequest("Could not read the request body")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return p, nil
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/json" || body[0] == '{':
		return p, p.addJSON(body)
	case ct == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return p, clderr.BadRequest("Invalid form body")
		}
		for k, vs := range vals {
			for _, v := range vs {
				p.add(k, v, false)
			}
		}
	case ct == "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(body), ctParams["boundary"]).ReadForm(maxBody)
		if err != nil {
			return p, clderr.BadRequest("Invalid multipart body")
		}
		defer form.RemoveAll()
		for k, vs := range form.Value {
			for _, v := range vs {
				p.add(k, v, false)
			}
		}
	default:
		return p, clderr.BadRequest("Unsupported Content-Type %s: send JSON or a form", ct)
	}
	return p, nil
}

func (p *params) addJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return clderr.BadRequest("Invalid JSON body")
	}
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case []any:
			for _, e := range v {
				p.add(k, scalar(e), true)
			}
			if len(v) == 0 {
				p.arr[k] = true
			}
		default:
			p.add(k, scalar(v), false)
		}
	}
	return nil
}

// scalar writes a JSON value as a parameter string; objects stay JSON.
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return v.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (p params) has(k string) bool { return len(p.v[k]) > 0 }

func (p params) get(k string) string {
	if vs := p.v[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// list is a list parameter: array entries as they are, or one value
// split on "," as cloudinary-go joins them. Blanks are dropped.
func (p params) list(k string) []string {
	var out []string
	for _, v := range p.v[k] {
		parts := []string{v}
		if !p.arr[k] {
			parts = strings.Split(v, ",")
		}
		for _, s := range parts {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// joined is a list parameter as one ","-joined string, the form the
// Upload API reads.
func (p params) joined(k string) string {
	if p.arr[k] {
		return strings.Join(p.list(k), ",")
	}
	return p.get(k)
}

func (p params) boolean(k string, def bool) (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(p.get(k))); v {
	case "":
		return def, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, clderr.BadRequest("Invalid value for %s: %s (use true or false)", k, p.get(k))
}

// integer reads k, which must be between lo and hi when given.
func (p params) integer(k string, def, lo, hi int) (int, error) {
	s := strings.TrimSpace(p.get(k))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, clderr.BadRequest("Value for %s must be an integer between %d and %d, got %s", k, lo, hi, s)
	}
	return n, nil
}
