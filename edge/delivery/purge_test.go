package delivery

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/edge/ban"
	"github.com/refract-cdn/refract/edge/cache"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// entryFor is the entry the edge would store for path and accept,
// stored a second ago, without a body.
func entryFor(t testing.TB, path, accept string, versioned bool) *cache.Entry {
	t.Helper()
	var r urlapi.Request
	var ch transform.Chain
	if err := urlapi.Parse(path, &r); err != nil {
		t.Fatal(err)
	}
	if err := transform.Parse(r.Tx, &ch); err != nil {
		t.Fatal(err)
	}
	f := derivative.OutputFormat(&r, &ch)
	e := &cache.Entry{
		Key:   derivative.AppendKey(nil, &r, ch.AppendCanonical(nil), f, format.ParseAccept([]byte(accept))),
		Asset: assetHash(nil, r.Cloud, r.ResourceType.String(), r.Type.String(), r.PublicID), CacheControl: "public, max-age=3600",
		Stored: time.Now().Add(-time.Second).UnixNano(),
	}
	if versioned {
		e.CacheControl = immutable
	}
	return e
}

func TestPurgeKinds(t *testing.T) {
	newServer := func() *Server {
		return New(Config{
			Clouds: cloud.NewRegistry(cloud.Cloud{Name: "demo", APIKey: "k", APISecret: "b", Hosts: []string{"img.example.com"}},
				cloud.Cloud{Name: "other", APIKey: "k2", APISecret: "b2"}),
			Bans: ban.New(time.Hour), MaxAge: time.Hour,
		})
	}
	const avif, webp = "image/avif,image/webp", "image/webp"
	entries := map[string]*cache.Entry{
		"a auto avif":   entryFor(t, "/demo/image/upload/w_300,f_auto/a.jpg", avif, false),
		"a auto webp":   entryFor(t, "/demo/iu/f_auto,w_300/a.jpg", webp, false), // another URL form and order, another format
		"a png":         entryFor(t, "/demo/image/upload/w_300/a.png", "", false),
		"a versioned":   entryFor(t, "/demo/image/upload/w_300/v5/a.jpg", "", true),
		"a immutable":   entryFor(t, "/demo/image/upload/w_300,fl_immutable_cache/a.jpg", "", true), // immutable, but no version
		"b":             entryFor(t, "/demo/image/upload/w_300/folder/b.jpg", "", false),
		"other cloud a": entryFor(t, "/other/image/upload/w_300,f_auto/a.jpg", avif, false),
	}
	now := time.Now()
	cases := []struct {
		name  string
		purge bus.Purge
		gone  []string
	}{
		{"asset", bus.Purge{Cloud: "demo", ResourceType: "image", Type: "upload", PublicID: "a", At: now},
			[]string{"a auto avif", "a auto webp", "a png", "a versioned", "a immutable"}},
		{"assets", bus.Purge{Cloud: "demo", ResourceType: "image", Type: "upload", PublicIDs: []string{"folder/b", "zzz"}, At: now},
			[]string{"b"}},
		{"URL, every negotiated format", bus.Purge{Cloud: "demo", URL: "/demo/image/upload/w_300,f_auto/a.jpg", At: now},
			[]string{"a auto avif", "a auto webp"}},
		{"URL on a CNAME host", bus.Purge{Cloud: "demo", URL: "https://img.example.com/image/upload/w_300/a.png", At: now},
			[]string{"a png"}},
		{"URL of another cloud is ignored", bus.Purge{Cloud: "demo", URL: "/other/image/upload/w_300,f_auto/a.jpg", At: now}, nil},
		{"cloud", bus.Purge{Cloud: "demo", All: true, At: now},
			[]string{"a auto avif", "a auto webp", "a png", "a versioned", "a immutable", "b"}},
	}
	for _, c := range cases {
		s := newServer()
		s.Purge(c.purge)
		gone := map[string]bool{}
		for _, g := range c.gone {
			gone[g] = true
		}
		for name, e := range entries {
			want := ban.Fresh
			if gone[name] {
				want = ban.Gone
			}
			if got := s.verdict(e); got != want {
				t.Errorf("%s: %s is %v, want %v", c.name, name, got, want)
			}
		}
	}

	s := newServer()
	soft := bus.Purge{Cloud: "demo", ResourceType: "image", Type: "upload", PublicID: "a", Soft: true, At: now}
	s.Purge(soft)
	if v := s.verdict(entries["a png"]); v != ban.Stale {
		t.Errorf("soft purge: %v, want Stale", v)
	}
	s = newServer()
	s.DropUnversioned()
	for name, e := range entries {
		want := ban.Gone
		if name == "a versioned" {
			want = ban.Fresh
		}
		if got := s.verdict(e); got != want {
			t.Errorf("after DropUnversioned %s is %v, want %v", name, got, want)
		}
	}
}

// Bans of other assets leave hits as they were: hits, without allocating.
func TestHitPathWithBans(t *testing.T) {
	p := hitPaths[1]
	s := primed(t, p.path, p.accept)
	s.Purge(bus.Purge{Cloud: "demo", ResourceType: "image", Type: "upload", PublicID: "elsewhere", At: time.Now()})
	s.Purge(bus.Purge{Cloud: "demo", URL: "/demo/image/upload/w_1/elsewhere.jpg", At: time.Now()})
	s.Purge(bus.Purge{Cloud: "other", All: true, At: time.Now()})
	var ctx fasthttp.RequestCtx
	ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	request(&ctx, p.path, p.accept)
	s.Handle(&ctx)
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.Peek("X-Cache")) != "HIT" {
		t.Fatalf("with unrelated bans: %d %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("X-Cache"))
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(200, func() {
		request(&ctx, p.path, p.accept)
		s.Handle(&ctx)
	}); n != 0 {
		t.Errorf("a hit with bans held allocates %v times", n)
	}
}
