package accesslog

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func request(uri string, status int, hdr ...string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5555}, nil)
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.SetHost("img.example.com")
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	ctx.SetStatusCode(status)
	ctx.Response.SetBodyString("12345")
	return &ctx
}

func TestLineIsJSON(t *testing.T) {
	var out bytes.Buffer
	l := New(&out, 1, false)
	ctx := request("/demo/image/upload/w_10/a%22b.jpg?x=1", 200, "User-Agent", "bad\"agent\x01\xff", "Referer", "https://example.com/")
	l.Done(ctx, l.Sample(), []byte("HIT"))
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("line %q is not JSON: %v", out.String(), err)
	}
	want := map[string]any{"ip": "192.0.2.7", "method": "GET", "host": "img.example.com", "uri": "/demo/image/upload/w_10/a%22b.jpg?x=1",
		"status": 200.0, "bytes": 5.0, "cache": "HIT", "ua": "bad\"agent\x01\ufffd", "referer": "https://example.com/"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if !strings.HasSuffix(out.String(), "}\n") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("not one line: %q", out.String())
	}
}

func TestSampling(t *testing.T) {
	var out bytes.Buffer
	l := New(&out, 0.1, true)
	const n = 20000
	sampled := 0
	for i := 0; i < n; i++ {
		if l.Sample() {
			sampled++
		}
	}
	if sampled < n/10-600 || sampled > n/10+600 {
		t.Errorf("sampled %d of %d at 10%%", sampled, n)
	}
	l.Done(request("/ok", 200), false, []byte("HIT"))
	if out.Len() != 0 {
		t.Error("an unsampled success was logged")
	}
	l.Done(request("/missing", 404), false, []byte("MISS"))
	if !strings.Contains(out.String(), `"status":404`) {
		t.Errorf("an error was not logged: %q", out.String())
	}
	if New(&out, 0, false) != nil || New(nil, 1, true) != nil {
		t.Error("a logger that logs nothing was made")
	}
	var none *Logger
	if none.Sample() {
		t.Error("a nil logger sampled")
	}
	none.Done(request("/x", 500), true, nil) // must not panic
}

func TestSampleDoesNotAllocate(t *testing.T) {
	l := New(&bytes.Buffer{}, 0.01, true)
	if a := testing.AllocsPerRun(1000, func() { l.Sample() }); a != 0 {
		t.Errorf("Sample allocates %v", a)
	}
}
