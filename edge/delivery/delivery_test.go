package delivery

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/edge/accesslog"
	"github.com/refract-cdn/refract/edge/ban"
	"github.com/refract-cdn/refract/edge/cache"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/sign"
)

// primed returns a server whose cache already holds the derivative of
// path, so requests for it never reach an origin (there is none).
func primed(t testing.TB, path string, accept string) *Server {
	t.Helper()
	c, err := cache.New(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := New(Config{
		Clouds: cloud.NewRegistry(cloud.Cloud{Name: "demo", APIKey: "k", APISecret: "b"}),
		Cache:  c, Bans: ban.New(time.Hour), MaxAge: time.Hour,
		// As an edge runs, but logging every request: a logged hit
		// must not allocate either.
		MaxURLBytes: 4 << 10, AccessLog: accesslog.New(io.Discard, 1, true),
	})
	e := entryFor(t, path, accept, true)
	e.Body, e.ContentType, e.ETag, e.Expires = primedBody(), "image/jpeg", `"abc"`, time.Now().Add(time.Hour).UnixNano()
	c.Set(derivative.Hash(e.Key), e, 0)
	return s
}

// primedBody is the 41 KB body of primed entries, each byte telling
// where it is, so that a range shows which bytes it holds.
func primedBody() []byte {
	b := make([]byte, 41<<10)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func request(ctx *fasthttp.RequestCtx, path, accept string) {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.SetRequestURI(path)
	if accept != "" {
		ctx.Request.Header.Set("Accept", accept)
	}
}

var hitPaths = []struct{ name, path, accept string }{
	{"plain", "/demo/image/upload/w_300,c_scale/v1700000000/folder/sample.jpg", ""},
	{"f_auto", "/demo/image/upload/w_300,c_fill,h_200,g_north,f_auto,q_auto/sample", "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"},
	{"signed", "/demo/image/upload/s--QGYkTi9b--/w_300,c_scale/sample.jpg", ""},
}

func TestHitPath(t *testing.T) {
	for _, p := range hitPaths {
		s := primed(t, p.path, p.accept)
		var ctx fasthttp.RequestCtx
		ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		request(&ctx, p.path, p.accept)
		s.Handle(&ctx)
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.Peek("X-Cache")) != "HIT" || len(ctx.Response.Body()) != 41<<10 {
			t.Fatalf("%s: %d %q %s", p.name, ctx.Response.StatusCode(), ctx.Response.Header.Peek("X-Cache"), ctx.Response.Header.Peek("X-Cld-Error"))
		}
		if raceEnabled {
			continue // make test checks allocations in a run without -race
		}
		n := testing.AllocsPerRun(200, func() {
			request(&ctx, p.path, p.accept)
			s.Handle(&ctx)
		})
		if n != 0 {
			t.Errorf("%s: the hit path allocates %v times per request", p.name, n)
		}
	}
	if sign.Delivery("w_300,c_scale/sample.jpg", "b", false) != "QGYkTi9b" {
		t.Fatal("the signed path's signature is stale")
	}
}

// BenchmarkHit is the edge's RAM-hit path through the real handler:
// parse, authorise, canonicalise, look up and write a 41 KB response.
func BenchmarkHit(b *testing.B) {
	for _, p := range hitPaths {
		b.Run(p.name, func(b *testing.B) {
			s := primed(b, p.path, p.accept)
			s.cfg.AccessLog = accesslog.New(io.Discard, 0.01, true) // the default sample
			var ctx fasthttp.RequestCtx
			ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
			b.ReportAllocs()
			for b.Loop() {
				request(&ctx, p.path, p.accept)
				s.Handle(&ctx)
			}
		})
	}
}

// BenchmarkHitAnchor is the anchor for BenchmarkHit: a fasthttp handler
// that reads the path, as any server must, and writes the same response
// with no parsing, checks or lookup.
func BenchmarkHitAnchor(b *testing.B) {
	body := make([]byte, 41<<10)
	handler := func(ctx *fasthttp.RequestCtx) {
		if len(ctx.URI().PathOriginal()) == 0 {
			b.Fatal("no path")
		}
		h := &ctx.Response.Header
		h.Set("X-Cache", "HIT")
		h.Set(fasthttp.HeaderCacheControl, immutable)
		h.Set(fasthttp.HeaderETag, `"abc"`)
		h.Set(fasthttp.HeaderAccessControlAllowOrigin, "*")
		h.SetContentType("image/jpeg")
		ctx.Response.SetBodyRaw(body)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	b.ReportAllocs()
	for b.Loop() {
		request(&ctx, hitPaths[0].path, "")
		handler(&ctx)
	}
}

// BenchmarkHitAnchorAllHeaders is BenchmarkHitAnchor with every header
// a hit now sends, set as cheaply as fasthttp allows (SetCanonical with
// keys in normal form, as the hit path does): what serving this response
// costs with nothing else. BenchmarkHitAnchor is kept as it was, so that
// numbers stay comparable across versions, but it writes four headers
// fewer (Server-Timing, Timing-Allow-Origin, Accept-Ranges and Age), with
// Set.
func BenchmarkHitAnchorAllHeaders(b *testing.B) {
	body := make([]byte, 41<<10)
	kv := func(k, v string) [2][]byte { return [2][]byte{fasthttp.AppendNormalizedHeaderKey(nil, k), []byte(v)} }
	headers := [][2][]byte{
		kv("X-Cache", "HIT"), kv(fasthttp.HeaderServerTiming, "cdn-cache;desc=HIT"),
		kv(fasthttp.HeaderCacheControl, immutable), kv(fasthttp.HeaderETag, `"abc"`),
		kv(fasthttp.HeaderAccessControlAllowOrigin, "*"), kv(fasthttp.HeaderTimingAllowOrigin, "*"),
		kv(fasthttp.HeaderAcceptRanges, "bytes"), kv(fasthttp.HeaderAge, "0"),
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		if len(ctx.URI().PathOriginal()) == 0 {
			b.Fatal("no path")
		}
		h := &ctx.Response.Header
		for _, kv := range headers {
			h.SetCanonical(kv[0], kv[1])
		}
		h.SetContentType("image/jpeg")
		ctx.Response.SetBodyRaw(body)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	b.ReportAllocs()
	for b.Loop() {
		request(&ctx, hitPaths[0].path, "")
		handler(&ctx)
	}
}
