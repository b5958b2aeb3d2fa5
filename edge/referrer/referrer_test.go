package referrer

import (
	"net/url"
	"strings"
	"testing"
)

func mustNew(t testing.TB, opts Options, patterns ...string) *List {
	t.Helper()
	l, err := New(patterns, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAllowed(t *testing.T) {
	l := mustNew(t, Options{}, "example.com", "*.cdn.example.net", "xn--bcher-kva.example", "192.0.2.7", "[2001:DB8:0::1]", "Trailing.Dot.")
	cases := []struct {
		ref  string
		want bool
	}{
		{"https://example.com/page", true},
		{"http://example.com", true},
		{"https://example.com?q=1", true},
		{"https://example.com#top", true},
		{"https://EXAMPLE.com:443/x", true},
		{"HTTPS://Example.COM/", true},
		{"https://example.com./", true}, // the same name, fully qualified
		{"https://example.com:/", true}, // an empty port is allowed by URL syntax
		{"  https://example.com/  ", true},
		// Look-alikes.
		{"https://evil.com/example.com", false},
		{"https://evil.com/?r=https://example.com/", false},
		{"https://example.com.evil.com/", false},
		{"https://notexample.com/", false},
		{"https://www.example.com/", false}, // exact pattern: no subdomains
		{"https://example.co/", false},
		// Userinfo: browsers strip it, so it is never trusted.
		{"https://example.com@evil.com/", false},
		{"https://evil.com@example.com/", false},
		{"https://user:pass@example.com/", false},
		{"https://example.com:80@evil.com/", false},
		// "\" ends the host for http(s), as browsers parse it.
		{"https://example.com\\.evil.com/", true},
		{"https://evil.com\\@example.com/", false},
		// Wildcards.
		{"https://a.cdn.example.net/x", true},
		{"https://a.b.cdn.example.net/x", true},
		{"https://cdn.example.net/x", false},
		{"https://.cdn.example.net/x", false},
		{"https://a..cdn.example.net/x", false},
		{"https://acdn.example.net/x", false},
		// IDN: the punycode browsers send passes through; raw UTF-8 does not.
		{"https://xn--bcher-kva.example/", true},
		{"https://XN--BCHER-KVA.example/", true},
		{"https://bücher.example/", false},
		{"https://b%C3%BCcher.example/", false},
		// IP literals.
		{"http://192.0.2.7:8080/", true},
		{"http://192.0.2.70/", false},
		{"http://[2001:db8::1]:8080/", true},
		{"http://[2001:db8::2]/", false},
		{"http://[2001:db8::1/", false},
		{"http://[zz::1]/", false},
		{"https://trailing.dot/", true},
		// Garbage.
		{"example.com", false},
		{"//example.com/", false},
		{"/relative/path", false},
		{"https:/example.com/", false},
		{"https:example.com", false},
		{"https://", false},
		{"https:///example.com", false},
		{"https://:443/", false},
		{"https://exa mple.com/", false},
		{"https://example.com:44x/", false},
		{"https://example.com::443/", false},
		{"ftp://example.com/", false},
		{"android-app://example.com/", false},
		{"null", false},
		{"\x00\xff", false},
		{"https://" + strings.Repeat("a.", 200) + "example.com/", false},
	}
	for _, c := range cases {
		if got := l.Allowed([]byte(c.ref)); got != c.want {
			t.Errorf("Allowed(%q) = %v, want %v", c.ref, got, c.want)
		}
	}
}

func TestEmptyReferer(t *testing.T) {
	def := mustNew(t, Options{}, "example.com")
	strict := mustNew(t, Options{RejectEmpty: true}, "example.com")
	for _, ref := range []string{"", " ", "\t"} {
		if !def.Allowed([]byte(ref)) {
			t.Errorf("default: Allowed(%q) = false, want true", ref)
		}
		if strict.Allowed([]byte(ref)) {
			t.Errorf("RejectEmpty: Allowed(%q) = true, want false", ref)
		}
	}
	if def.Allowed(nil) != true || strict.Allowed(nil) != false {
		t.Error("a missing (nil) Referer is not treated as an empty one")
	}
	if !strict.Allowed([]byte("https://example.com/")) {
		t.Error("RejectEmpty refused a listed referrer")
	}
}

func TestNoPatterns(t *testing.T) {
	l, err := New(nil, Options{RejectEmpty: true})
	if err != nil || l != nil {
		t.Fatalf("New(nil) = %v, %v; want nil, nil", l, err)
	}
	for _, ref := range []string{"", "https://anything.example/", "garbage"} {
		if !l.Allowed([]byte(ref)) {
			t.Errorf("a nil List refused %q", ref)
		}
	}
}

func TestBadPatterns(t *testing.T) {
	for _, p := range []string{
		"", " ", "*", "*.", "*.*.example.com", "foo*.example.com", "*example.com",
		"https://example.com", "example.com/path", "example.com:443", "user@example.com",
		"bücher.example", "exa mple.com", ".example.com", "a..example.com",
		"*.192.0.2.1", "[192.0.2.1]", "[not-an-address]", "[fe80::1%eth0]",
		strings.Repeat("a.", 127) + "com",
	} {
		if l, err := New([]string{"example.org", p}, Options{}); err == nil {
			t.Errorf("New accepted the pattern %q: %+v", p, l)
		}
	}
}

func TestAllowedAllocs(t *testing.T) {
	l := mustNew(t, Options{}, "example.com", "*.example.net")
	for _, ref := range []string{"https://EXAMPLE.com:443/x", "https://a.b.example.net/", "https://evil.com/", "garbage"} {
		b := []byte(ref)
		if n := testing.AllocsPerRun(100, func() { l.Allowed(b) }); n != 0 {
			t.Errorf("Allowed(%q) allocates %v times per call", ref, n)
		}
	}
}

// FuzzAllowed: no input panics, and whatever is allowed has, by
// net/url's reading too, a listed host.
func FuzzAllowed(f *testing.F) {
	for _, s := range []string{"https://example.com/", "https://a.example.net:8/?x#y", "https://example.com@evil.com/",
		"http://[::1]/", "https://example.com\\x", "", "HTTP://EXAMPLE.COM."} {
		f.Add(s)
	}
	l := mustNew(f, Options{RejectEmpty: true}, "example.com", "*.example.net", "[::1]")
	f.Fuzz(func(t *testing.T, ref string) {
		if !l.Allowed([]byte(ref)) {
			return
		}
		// Only the scheme and authority: net/url refuses, say, control
		// characters in a query, which say nothing about the host.
		scheme, rest, _ := strings.Cut(strings.TrimSpace(ref), "://")
		if i := strings.IndexAny(rest, "/?#\\"); i >= 0 {
			rest = rest[:i]
		}
		u, err := url.Parse(scheme + "://" + rest)
		if err != nil {
			t.Fatalf("Allowed(%q), which net/url cannot parse: %v", ref, err)
		}
		h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		if u.User != nil || !(h == "example.com" || h == "::1" || strings.HasSuffix(h, ".example.net")) {
			t.Fatalf("Allowed(%q), whose host by net/url is %q", ref, u.Host)
		}
	})
}

func BenchmarkAllowed(b *testing.B) {
	l := mustNew(b, Options{}, "example.com", "*.example.net", "static.example.org")
	for _, ref := range []string{"https://www.example.com/gallery/page.html", "https://a.b.example.net/", "https://evil.example/"} {
		b.Run(ref, func(b *testing.B) {
			r := []byte(ref)
			b.ReportAllocs()
			for b.Loop() {
				l.Allowed(r)
			}
		})
	}
}
