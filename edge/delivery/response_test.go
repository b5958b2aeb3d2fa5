package delivery

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/refract-cdn/refract/edge/ban"
	"github.com/refract-cdn/refract/edge/cache"
	"github.com/refract-cdn/refract/edge/forward"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

const plainPath = "/demo/image/upload/w_300,c_scale/v1700000000/folder/sample.jpg"

// get sends a request for path with the given method and headers
// (name, value, name, value, ...) to s.
func get(s *Server, ctx *fasthttp.RequestCtx, method, path string, hdr ...string) {
	request(ctx, path, "")
	ctx.Request.Header.SetMethod(method)
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	s.Handle(ctx)
}

func newCtx() *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	return &ctx
}

func TestByteRange(t *testing.T) {
	const size = 1000
	cases := []struct {
		spec       string
		start, end int
		res        rangeResult
	}{
		{"bytes=0-99", 0, 99, rangeSatisfiable},
		{"bytes=100-", 100, 999, rangeSatisfiable},
		{"bytes=-100", 900, 999, rangeSatisfiable},
		{"bytes=999-999", 999, 999, rangeSatisfiable},
		{"bytes=0-5000", 0, 999, rangeSatisfiable},                       // the end is clamped
		{"bytes=-5000", 0, 999, rangeSatisfiable},                        // the whole body
		{"bytes=0-99999999999999999999999999", 0, 999, rangeSatisfiable}, // no overflow
		{"Bytes= 10 - 19 ", 10, 19, rangeSatisfiable},                    // unit case and spaces
		{"bytes=1000-", 0, 0, rangeUnsatisfiable},
		{"bytes=5000-6000", 0, 0, rangeUnsatisfiable},
		{"bytes=99999999999999999999999-", 0, 0, rangeUnsatisfiable},
		{"bytes=-0", 0, 0, rangeUnsatisfiable},
		{"bytes=0-1,5-6", 0, 0, rangeIgnored}, // several ranges: the whole body
		{"bytes=0-1,", 0, 0, rangeIgnored},
		{"bytes=5-1", 0, 0, rangeIgnored}, // invalid
		{"bytes=-", 0, 0, rangeIgnored},
		{"bytes=a-b", 0, 0, rangeIgnored},
		{"bytes=1-b", 0, 0, rangeIgnored},
		{"bytes=--1", 0, 0, rangeIgnored},
		{"bytes=+1-2", 0, 0, rangeIgnored},
		{"bytes 0-1", 0, 0, rangeIgnored},
		{"items=0-1", 0, 0, rangeIgnored},
		{"bytes=", 0, 0, rangeIgnored},
	}
	for _, c := range cases {
		start, end, res := byteRange([]byte(c.spec), size)
		if res != c.res || res == rangeSatisfiable && (start != c.start || end != c.end) {
			t.Errorf("%q: %d-%d %d, want %d-%d %d", c.spec, start, end, res, c.start, c.end, c.res)
		}
	}
	if _, _, res := byteRange([]byte("bytes=-5"), 0); res != rangeUnsatisfiable {
		t.Error("a suffix range of an empty body is satisfiable")
	}
	if _, _, res := byteRange([]byte("bytes=0-"), 0); res != rangeUnsatisfiable {
		t.Error("a range of an empty body is satisfiable")
	}
}

func TestRange(t *testing.T) {
	s := primed(t, plainPath, "")
	body := primedBody()
	size := len(body)
	ctx := newCtx()
	type want struct {
		status       int
		contentRange string
		body         []byte
	}
	full := want{200, "", body}
	cases := []struct {
		name string
		hdr  []string
		want want
	}{
		{"none", nil, full},
		{"first bytes", []string{"Range", "bytes=0-99"}, want{206, fmt.Sprintf("bytes 0-99/%d", size), body[:100]}},
		{"open end", []string{"Range", "bytes=41000-"}, want{206, fmt.Sprintf("bytes 41000-%d/%d", size-1, size), body[41000:]}},
		{"suffix", []string{"Range", "bytes=-10"}, want{206, fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size), body[size-10:]}},
		{"clamped", []string{"Range", "bytes=100-999999"}, want{206, fmt.Sprintf("bytes 100-%d/%d", size-1, size), body[100:]}},
		{"past the end", []string{"Range", "bytes=999999-"}, want{416, fmt.Sprintf("bytes */%d", size), nil}},
		{"empty suffix", []string{"Range", "bytes=-0"}, want{416, fmt.Sprintf("bytes */%d", size), nil}},
		{"several", []string{"Range", "bytes=0-1,5-6"}, full},
		{"invalid", []string{"Range", "bytes=9-1"}, full},
		{"other unit", []string{"Range", "pages=1-2"}, full},
		{"if-range match", []string{"Range", "bytes=0-9", "If-Range", `"abc"`}, want{206, fmt.Sprintf("bytes 0-9/%d", size), body[:10]}},
		{"if-range mismatch", []string{"Range", "bytes=0-9", "If-Range", `"old"`}, full},
		{"if-range weak", []string{"Range", "bytes=0-9", "If-Range", `W/"abc"`}, full},
		{"if-range date", []string{"Range", "bytes=0-9", "If-Range", "Wed, 21 Oct 2015 07:28:00 GMT"}, full},
		{"if-range alone", []string{"If-Range", `"abc"`}, full},
		{"not modified first", []string{"Range", "bytes=0-9", "If-None-Match", `"abc"`}, want{304, "", nil}},
	}
	for _, method := range []string{"GET", "HEAD"} {
		for _, c := range cases {
			get(s, ctx, method, plainPath, c.hdr...)
			r := &ctx.Response
			name := method + " " + c.name
			if r.StatusCode() != c.want.status {
				t.Errorf("%s: status %d, want %d", name, r.StatusCode(), c.want.status)
			}
			if got := string(r.Header.Peek("Content-Range")); got != c.want.contentRange {
				t.Errorf("%s: Content-Range %q, want %q", name, got, c.want.contentRange)
			}
			// fasthttp leaves out a HEAD response's body on the wire (see
			// TestHeadOverTheWire); the handler sets it all the same.
			if !bytes.Equal(r.Body(), c.want.body) {
				t.Errorf("%s: a body of %d bytes, want %d", name, len(r.Body()), len(c.want.body))
			}
			ar := string(r.Header.Peek("Accept-Ranges"))
			switch c.want.status {
			case 200, 206:
				if ar != "bytes" {
					t.Errorf("%s: Accept-Ranges %q", name, ar)
				}
			default:
				if ar != "" {
					t.Errorf("%s: Accept-Ranges %q on a %d", name, ar, c.want.status)
				}
			}
			cc := string(r.Header.Peek("Cache-Control"))
			switch {
			case c.want.status == 416 && cc != "no-store":
				t.Errorf("%s: a 416 with Cache-Control %q", name, cc)
			case c.want.status != 416 && cc != immutable:
				t.Errorf("%s: Cache-Control %q", name, cc)
			}
			if string(r.Header.Peek("ETag")) != `"abc"` || string(r.Header.Peek("X-Cache")) != "HIT" || len(r.Header.Peek("Age")) == 0 {
				t.Errorf("%s: ETag %q, X-Cache %q, Age %q", name, r.Header.Peek("ETag"), r.Header.Peek("X-Cache"), r.Header.Peek("Age"))
			}
		}
	}
}

// TestHeadOverTheWire checks what a client of a real server sees for
// HEAD: the headers GET would have, with Content-Length, and no body.
func TestHeadOverTheWire(t *testing.T) {
	s := primed(t, plainPath, "")
	size := len(primedBody())
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: s.Handle, NoDefaultContentType: true}
	go srv.Serve(ln)
	defer srv.Shutdown()
	for _, c := range []struct{ req, want string }{
		{"Range: bytes=0-99\r\n", "HTTP/1.1 206 Partial Content\r\n|Content-Length: 100\r\n|Content-Range: bytes 0-99/" + fmt.Sprint(size) + "\r\n"},
		{"", "HTTP/1.1 200 OK\r\n|Content-Length: " + fmt.Sprint(size) + "\r\n|Accept-Ranges: bytes\r\n"},
		{"Range: bytes=99999999-\r\n", "HTTP/1.1 416 Requested Range Not Satisfiable\r\n|Content-Range: bytes */" + fmt.Sprint(size) + "\r\n"},
	} {
		conn, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "HEAD %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", plainPath, c.req)
		raw, err := io.ReadAll(bufio.NewReader(conn))
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp := string(raw)
		for _, w := range strings.Split(c.want, "|") {
			if !strings.Contains(resp, w) {
				t.Errorf("HEAD with %q: no %q in\n%s", c.req, w, resp)
			}
		}
		if !strings.HasSuffix(resp, "\r\n\r\n") {
			t.Errorf("HEAD with %q: a body was sent:\n%s", c.req, resp)
		}
	}
}

func TestTimingHeaders(t *testing.T) {
	s := primed(t, plainPath, "")
	ctx := newCtx()
	get(s, ctx, "GET", plainPath)
	h := &ctx.Response.Header
	if string(h.Peek("Timing-Allow-Origin")) != "*" || string(h.Peek("Server-Timing")) != "cdn-cache;desc=HIT" {
		t.Errorf("hit: Timing-Allow-Origin %q, Server-Timing %q", h.Peek("Timing-Allow-Origin"), h.Peek("Server-Timing"))
	}
	get(s, ctx, "GET", "/demo/image/upload/w_bad/sample.jpg")
	if ctx.Response.StatusCode() != 400 || string(h.Peek("Timing-Allow-Origin")) != "*" {
		t.Errorf("error: %d, Timing-Allow-Origin %q", ctx.Response.StatusCode(), h.Peek("Timing-Allow-Origin"))
	}
}

// fakeOrigin answers every derive request with body after delay.
func fakeOrigin(t *testing.T, body []byte, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		time.Sleep(delay)
		ctx.SetContentType("image/jpeg")
		ctx.Response.Header.Set("ETag", "\"e1\"")
		ctx.Response.Header.Set(derivative.HeaderVersion, "1700000000")
		ctx.SetBody(body)
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func TestMissTiming(t *testing.T) {
	c, err := cache.New(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := New(Config{
		Clouds: cloud.NewRegistry(cloud.Cloud{Name: "demo", APIKey: "k", APISecret: "b"}),
		Cache:  c, Bans: ban.New(time.Hour), MaxAge: time.Hour, ImmutableTTL: time.Hour,
		Origin: forward.New(fakeOrigin(t, []byte("jpeg bytes"), 20*time.Millisecond), []byte("secret"), 5*time.Second),
	})
	ctx := newCtx()
	get(s, ctx, "GET", plainPath)
	h := &ctx.Response.Header
	st := string(h.Peek("Server-Timing"))
	var dur float64
	if ctx.Response.StatusCode() != 200 || string(h.Peek("X-Cache")) != "MISS" || string(h.Peek("Timing-Allow-Origin")) != "*" {
		t.Fatalf("miss: %d %q %q %s", ctx.Response.StatusCode(), h.Peek("X-Cache"), h.Peek("Timing-Allow-Origin"), h.Peek("X-Cld-Error"))
	}
	if _, err := fmt.Sscanf(st, "cdn-cache;desc=MISS, origin;dur=%g", &dur); err != nil || dur < 20 || dur > 5000 {
		t.Errorf("miss: Server-Timing %q (%v)", st, err)
	}
	if string(h.Peek("Accept-Ranges")) != "bytes" || string(ctx.Response.Body()) != "jpeg bytes" {
		t.Errorf("miss: Accept-Ranges %q, body %q", h.Peek("Accept-Ranges"), ctx.Response.Body())
	}
	// A Range on a miss is served from the entry just fetched.
	get(s, ctx, "GET", "/demo/image/upload/w_301,c_scale/v1700000000/folder/sample.jpg", "Range", "bytes=5-")
	if ctx.Response.StatusCode() != 206 || string(ctx.Response.Body()) != "bytes" || string(h.Peek("X-Cache")) != "MISS" {
		t.Errorf("a range miss: %d %q %q", ctx.Response.StatusCode(), ctx.Response.Body(), h.Peek("X-Cache"))
	}
	get(s, ctx, "GET", plainPath)
	if string(h.Peek("X-Cache")) != "HIT" || string(h.Peek("Server-Timing")) != "cdn-cache;desc=HIT" {
		t.Errorf("then a hit: %q %q", h.Peek("X-Cache"), h.Peek("Server-Timing"))
	}
}

// TestRangeHitDoesNotAllocate: a 206 and a 304 from the RAM tier are
// as free as a 200.
func TestRangeHitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race")
	}
	s := primed(t, plainPath, "")
	ctx := newCtx()
	for _, hdr := range [][]string{
		{"Range", "bytes=100-199"},
		{"Range", "bytes=-100", "If-Range", `"abc"`},
		{"Range", "bytes=0-1,4-5"},
		{"If-None-Match", `"x", "abc"`},
	} {
		get(s, ctx, "GET", plainPath, hdr...)
		if st := ctx.Response.StatusCode(); st != 206 && st != 200 && st != 304 {
			t.Fatalf("%v: %d", hdr, st)
		}
		n := testing.AllocsPerRun(200, func() {
			request(ctx, plainPath, "")
			for i := 0; i+1 < len(hdr); i += 2 {
				ctx.Request.Header.Set(hdr[i], hdr[i+1])
			}
			s.Handle(ctx)
		})
		if n != 0 {
			t.Errorf("%v: a hit allocates %v times per request", hdr, n)
		}
	}
}

// TestTxCache: a transformation served from the table gives the same
// key as one parsed afresh, and the table is safe for concurrent use.
func TestTxCache(t *testing.T) {
	txs := []string{
		"w_300,c_scale", "c_scale,w_300", "w_300,h_200,c_fill,g_north,f_auto,q_auto",
		"e_blur:300/w_0.5", "f_webp", "t_named", "fl_attachment:cat,w_10",
		"if_w_gt_100/w_100/if_end", "$w_100/w_$w",
	}
	for _, tx := range txs {
		var ch transform.Chain
		if err := transform.Parse(tx, &ch); err != nil {
			t.Fatalf("%s: %v", tx, err)
		}
		want := ch.String()
		s := New(Config{Clouds: cloud.NewRegistry()})
		for i := 0; i < 2; i++ { // parsed, then from the table
			st := &state{}
			st.req.Tx = tx
			f, err := s.canonical(st, &fasthttp.RequestHeader{})
			if err != nil || string(st.canon) != want || f != ch.Format() {
				t.Errorf("%s (%d): %q %v %v, want %q %v", tx, i, st.canon, f, err, want, ch.Format())
			}
			if i == 1 && st.parsed {
				t.Errorf("%s: not served from the table", tx)
			}
		}
	}

	// dpr_auto resolves per request: never from the table.
	s := New(Config{Clouds: cloud.NewRegistry()})
	for _, dpr := range []string{"2", "3"} {
		var h fasthttp.RequestHeader
		h.Set("DPR", dpr)
		st := &state{}
		st.req.Tx = "w_100,dpr_auto"
		if _, err := s.canonical(st, &h); err != nil || string(st.canon) != "dpr_"+dpr+",w_100" || !st.dprAuto {
			t.Errorf("dpr_auto with DPR %s: %q %v", dpr, st.canon, err)
		}
	}
	if s.txs.get("w_100,dpr_auto") != nil {
		t.Error("a dpr_auto chain is in the table")
	}
	long := strings.Repeat("w_1/", txMaxLen/4) + "w_1"
	s.txs.put(long, []byte(long), 0)
	if s.txs.get(long) != nil {
		t.Error("a transformation over txMaxLen is in the table")
	}

	// Many goroutines, more transformations than slots: every answer is
	// the right one.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &state{}
			for i := 0; i < 3*txSlots; i++ {
				st.req.Tx = fmt.Sprintf("w_%d", 1+(i*7+g)%(2*txSlots))
				if _, err := s.canonical(st, &fasthttp.RequestHeader{}); err != nil || string(st.canon) != st.req.Tx {
					t.Errorf("%s: %q %v", st.req.Tx, st.canon, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestAge: Age counts whole seconds since the entry was stored, from the
// coarse clock.
func TestAge(t *testing.T) {
	s := primed(t, plainPath, "")
	ctx := newCtx()
	for _, c := range []struct {
		ago  time.Duration
		want string
	}{{-time.Second, "0"}, {0, "0"}, {5900 * time.Millisecond, "5"}, {time.Hour + 900*time.Millisecond, "3600"}} {
		var r urlapi.Request
		urlapi.Parse(plainPath, &r)
		var ch transform.Chain
		transform.Parse(r.Tx, &ch)
		key := derivative.AppendKey(nil, &r, ch.AppendCanonical(nil), derivative.OutputFormat(&r, &ch), 0)
		s.cfg.Cache.Set(derivative.Hash(key), &cache.Entry{
			Key: key, Body: []byte("x"), ETag: `"a"`, CacheControl: immutable, Stored: time.Now().Add(-c.ago).UnixNano(),
			Expires: time.Now().Add(time.Hour).UnixNano(),
		}, 0)
		get(s, ctx, "GET", plainPath)
		if got := string(ctx.Response.Header.Peek("Age")); got != c.want {
			t.Errorf("stored %v ago: Age %q, want %q", c.ago, got, c.want)
		}
	}
	if d := time.Now().UnixNano() - coarseNow(); d < 0 || d > int64(time.Second) {
		t.Errorf("the coarse clock is %v behind", time.Duration(d))
	}
}

// TestRefreshKeepsHints: the background refresh of a stale entry copies
// the client hints its key depends on, so it refreshes that entry, not
// the dpr_1 one.
func TestRefreshKeepsHints(t *testing.T) {
	c, err := cache.New(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := New(Config{
		Clouds: cloud.NewRegistry(cloud.Cloud{Name: "demo", APIKey: "k", APISecret: "b"}),
		Cache:  c, Bans: ban.New(time.Hour), MaxAge: time.Hour, ImmutableTTL: time.Hour, StaleWhileRevalidate: time.Hour,
		Origin: forward.New(fakeOrigin(t, []byte("fresh"), 0), []byte("secret"), 5*time.Second),
	})
	const path = "/demo/image/upload/w_100,dpr_auto/v1700000000/sample.jpg"
	var r urlapi.Request
	urlapi.Parse(path, &r)
	var ch transform.Chain
	transform.Parse("dpr_2,w_100", &ch)
	key := derivative.AppendKey(nil, &r, ch.AppendCanonical(nil), derivative.OutputFormat(&r, &ch), 0)
	h := derivative.Hash(key)
	past := time.Now().Add(-time.Minute).UnixNano()
	c.Set(h, &cache.Entry{Key: key, Body: []byte("stale"), ETag: `"s"`, CacheControl: immutable, Stored: past, Expires: past}, 0)

	ctx := newCtx()
	get(s, ctx, "GET", path, "DPR", "2")
	if string(ctx.Response.Header.Peek("X-Cache")) != "STALE" || string(ctx.Response.Body()) != "stale" {
		t.Fatalf("%q %q", ctx.Response.Header.Peek("X-Cache"), ctx.Response.Body())
	}
	for i := 0; ; i++ {
		if e := c.Get(h, key); e != nil && string(e.Body) == "fresh" {
			break
		}
		if i == 200 {
			t.Fatal("the stale dpr_2 entry was not refreshed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	get(s, ctx, "GET", path, "DPR", "2")
	if string(ctx.Response.Header.Peek("X-Cache")) != "HIT" || string(ctx.Response.Body()) != "fresh" {
		t.Errorf("after the refresh: %q %q", ctx.Response.Header.Peek("X-Cache"), ctx.Response.Body())
	}
}
