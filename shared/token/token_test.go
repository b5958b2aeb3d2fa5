package token

import (
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloudinary/cloudinary-go/v2/api"
	"github.com/cloudinary/cloudinary-go/v2/asset"
	"github.com/cloudinary/cloudinary-go/v2/config"
)

const hexKey = "00112233FF99" // the SDK tests' key

var key, _ = hex.DecodeString(hexKey)

// sdkToken is the official generator's token value, without its name.
func sdkToken(t testing.TB, c config.AuthToken, path string) string {
	t.Helper()
	c.Key = hexKey
	out := asset.AuthToken{Config: &c}.Generate(path)
	v, ok := strings.CutPrefix(out, Name+"=")
	if !ok {
		t.Fatalf("SDK token %q lacks its name", out)
	}
	return v
}

func unix(s int64) time.Time { return time.Unix(s, 0) }

// The expected strings are cloudinary-go's own test vectors.
func TestGenerateMatchesSDKVectors(t *testing.T) {
	cases := []struct {
		p    Params
		want string
	}{
		{Params{Key: key, StartTime: unix(1111111111), Duration: 300 * time.Second, ACL: []string{"/image/*"}},
			"st=1111111111~exp=1111111411~acl=%2fimage%2f*~hmac=1751370bcc6cfe9e03f30dd1a9722ba0f2cdca283fa3e6df3342a00a7528cc51"},
		{Params{Key: key, Expiration: unix(11111411), URL: "sample.jpg"},
			"exp=11111411~hmac=470d32e3ee9b872d64bd00d974c559d96892398c8542ff33ce2f2647ee1bf7a4"},
		{Params{Key: key, StartTime: unix(11111111), Duration: 300 * time.Second,
			URL: "Encode these :~@#%^&{}[]\\\"';/\", but not those $!()_.*"},
			"st=11111111~exp=11111411~hmac=7ffc0fd1f3ee2622082689f64a65454da39d94c297bcf498b682aa65a0d2ce0a"},
	}
	for _, c := range cases {
		got, err := Generate(c.p, time.Time{})
		if err != nil || got != c.want {
			t.Errorf("Generate(%+v) = %q, %v; want %q", c.p, got, err, c.want)
		}
		now := unix(11111200)
		if !c.p.StartTime.IsZero() {
			now = c.p.StartTime
		}
		path := c.p.URL
		if len(c.p.ACL) > 0 {
			path = "/image/upload/sample.jpg"
		}
		if err := Verify(got, key, path, "", now); err != nil {
			t.Errorf("Verify(%q, path %q) = %v", got, path, err)
		}
	}
}

func TestVerifySDKTokens(t *testing.T) {
	now := unix(1700000000)
	cases := []struct {
		name     string
		c        config.AuthToken
		sdkPath  string // what the SDK is given (ignored with an ACL)
		path, ip string // the request
	}{
		{"acl", config.AuthToken{ACL: "/image/authenticated/*", Expiration: 1700000300}, "",
			"/image/authenticated/v1/a/b.jpg", "203.0.113.9"},
		{"acl and st", config.AuthToken{ACL: "/image/*", StartTime: 1699999999, Duration: 60}, "",
			"/image/upload/x.png", ""},
		{"acl and ip", config.AuthToken{ACL: "/*/t_foobar", IP: "203.0.113.9", Expiration: 1700000300}, "",
			"/image/t_foobar", "203.0.113.9"},
		{"several acls", config.AuthToken{ACL: "/video/*!/image/upload/*", Expiration: 1700000300}, "",
			"/image/upload/v1/x.jpg", ""},
		{"url", config.AuthToken{Expiration: 1700000300}, "/demo/image/authenticated/v1/sample.jpg",
			"/demo/image/authenticated/v1/sample.jpg", ""},
		{"url with escapes", config.AuthToken{Expiration: 1700000300, IP: "2001:db8::7"},
			"/demo/image/authenticated/a b&c=d~e@f.jpg", "/demo/image/authenticated/a b&c=d~e@f.jpg", "2001:db8::7"},
	}
	for _, c := range cases {
		tok := sdkToken(t, c.c, c.sdkPath)
		if err := Verify(tok, key, c.path, c.ip, now); err != nil {
			t.Errorf("%s: Verify(%q) = %v", c.name, tok, err)
		}
		if err := NewVerifier(key).Verify(tok, c.path, c.ip, now); err != nil {
			t.Errorf("%s: Verifier.Verify(%q) = %v", c.name, tok, err)
		}
		// Generate must produce the same bytes from the same options.
		p := Params{Key: key, IP: c.c.IP, URL: c.sdkPath, Duration: time.Duration(c.c.Duration) * time.Second}
		if c.c.StartTime != 0 {
			p.StartTime = unix(c.c.StartTime)
		}
		if c.c.Expiration != 0 {
			p.Expiration = unix(c.c.Expiration)
		}
		if c.c.ACL != "" {
			p.ACL = strings.Split(c.c.ACL, "!")
		}
		if got, err := Generate(p, now); err != nil || got != tok {
			t.Errorf("%s: Generate = %q, %v; the SDK made %q", c.name, got, err, tok)
		}
	}
}

// A whole delivery URL from the SDK: the token in its raw query, the
// path as url.Parse decodes it, as a server would see them.
func TestVerifySDKDeliveryURL(t *testing.T) {
	cfg, err := config.NewFromParams("demo", "key", "secret")
	if err != nil {
		t.Fatal(err)
	}
	cfg.URL.SignURL = true
	cfg.AuthToken = config.AuthToken{Key: hexKey, Expiration: 1700000300}
	for _, id := range []string{"sample.jpg", "folder/a b (1).jpg", "x+y@z;1%25.jpg"} {
		img, err := asset.Image(id, cfg)
		if err != nil {
			t.Fatal(err)
		}
		img.DeliveryType = api.Authenticated
		s, err := img.String()
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tok, ok := FromQuery(u.RawQuery)
		if !ok {
			t.Fatalf("no token in %s", s)
		}
		if err := Verify(tok, key, u.Path, "", unix(1700000000)); err != nil {
			t.Errorf("%s: Verify = %v", s, err)
		}
		if err := Verify(tok, key, u.Path+"x", "", unix(1700000000)); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: another path: Verify = %v, want ErrSignature", s, err)
		}
	}
}

func TestVerifyRefusals(t *testing.T) {
	const path = "/image/upload/v1/a.jpg"
	acl := sdkToken(t, config.AuthToken{ACL: "/image/upload/*", IP: "198.51.100.1", StartTime: 1000, Expiration: 2000}, "")
	urlTok := sdkToken(t, config.AuthToken{Expiration: 2000}, path)
	in := unix(1500)
	cases := []struct {
		name, tok, path, ip string
		now                 time.Time
		want                error
	}{
		{"valid acl", acl, path, "198.51.100.1", in, nil},
		{"valid url", urlTok, path, "", in, nil},
		{"ip as a mapped address", acl, path, "::ffff:198.51.100.1", in, nil},
		{"tampered hmac", flip(acl, len(acl)-1), path, "198.51.100.1", in, ErrSignature},
		{"tampered exp", strings.Replace(acl, "exp=2000", "exp=2999", 1), path, "198.51.100.1", in, ErrSignature},
		{"tampered st", strings.Replace(acl, "st=1000", "st=1001", 1), path, "198.51.100.1", in, ErrSignature},
		{"tampered acl", strings.Replace(acl, "upload", "private", 1), "/image/private/a.jpg", "198.51.100.1", in, ErrSignature},
		{"tampered ip", strings.Replace(acl, "198.51.100.1", "198.51.100.2", 1), path, "198.51.100.2", in, ErrSignature},
		{"acl removed", strings.Replace(acl, "~acl=%2fimage%2fupload%2f*", "", 1), path, "198.51.100.1", in, ErrSignature},
		{"other key", acl, path, "198.51.100.1", in, ErrSignature}, // checked below with another key
		{"url token, other path", urlTok, "/image/upload/v1/b.jpg", "", in, ErrSignature},
		{"url token, path with a suffix", urlTok, path + "/", "", in, ErrSignature},
		{"expired at exp", acl, path, "198.51.100.1", unix(2000), ErrExpired},
		{"expired after", urlTok, path, "", unix(99999), ErrExpired},
		{"last valid second", acl, path, "198.51.100.1", unix(1999), nil},
		{"st in the future", acl, path, "198.51.100.1", unix(999), ErrNotYetValid},
		{"first valid second", acl, path, "198.51.100.1", unix(1000), nil},
		{"other ip", acl, path, "198.51.100.2", in, ErrIP},
		{"no client ip", acl, path, "", in, ErrIP},
		{"outside the acl", acl, "/image/private/v1/a.jpg", "198.51.100.1", in, ErrACL},
		{"acl prefix without the slash", acl, "/image/upload", "198.51.100.1", in, ErrACL},
		{"malformed", "exp=2000", path, "", in, ErrMalformed},
	}
	other := []byte("another key")
	for _, c := range cases {
		k := key
		if c.name == "other key" {
			k = other
		}
		if err := Verify(c.tok, k, c.path, c.ip, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
		if err := NewVerifier(k).Verify(c.tok, c.path, c.ip, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: Verifier.Verify = %v, want %v", c.name, err, c.want)
		}
	}
	if err := Verify(acl, nil, path, "198.51.100.1", in); !errors.Is(err, ErrSignature) {
		t.Errorf("an empty key: Verify = %v, want ErrSignature", err)
	}
	if err := NewVerifier(nil).Verify(acl, path, "198.51.100.1", in); !errors.Is(err, ErrSignature) {
		t.Errorf("an empty key: Verifier.Verify = %v, want ErrSignature", err)
	}
}

func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

func TestMatchACL(t *testing.T) {
	cases := []struct {
		acl, path string
		want      bool
	}{
		{"/image/upload/*", "/image/upload/v1/a/b.jpg", true},
		{"/image/upload/*", "/image/upload/", true},
		{"/image/upload/*", "/image/upload", false},
		{"/image/upload/*", "/image/private/v1/a.jpg", false},
		{"/image/*/v1/*.jpg", "/image/upload/v1/a/b.jpg", true},
		{"/image/*/v1/*.jpg", "/image/upload/v2/a/b.jpg", false},
		{"/image/*/v1/*.jpg", "/image/upload/v1/a/b.png", false},
		{"/*/t_foobar", "/image/t_foobar", true},
		{"/*/t_foobar", "/image/t_foobar/x", false},
		{"*", "/anything/at/all", true},
		{"*", "", true},
		{"/a/b.jpg", "/a/b.jpg", true},
		{"/a/b.jpg", "/a/b.jpgx", false},
		{"/a/b.jpg", "/a/b.jp", false},
		{"**a*", "/xa", true},
		{"/x*y*z", "/xaaybbz", true},
		{"/x*y*z", "/xaaybb", false},
		{"/x*y*z", "/xzyz", true},
		// Escaped as the SDKs do: decoded before matching.
		{"%2fimage%2fupload%2f*", "/image/upload/a.jpg", true},
		{"%2Fimage%2Fupload%2F*", "/image/upload/a.jpg", true},
		{"%2fa%20b*", "/a b.jpg", true},
		{"%2fa%2a", "/a*", true},   // an escaped star is a literal
		{"%2fa%2a", "/ab", false},  // ...not a wildcard
		{"/100%", "/100%", true},   // a bad escape is literal
		{"/100%4", "/100%4", true}, // so is a truncated one
		{"/a?", "/ab", false},      // "?" is no wildcard
		// Several patterns joined with "!".
		{"/video/*!/image/upload/*", "/image/upload/a.jpg", true},
		{"/video/*!/image/upload/*", "/video/upload/a.mp4", true},
		{"/video/*!/image/upload/*", "/raw/upload/a.txt", false},
		{"!/a", "/a", true},
		{"/a!", "/b", false},
	}
	for _, c := range cases {
		if got := matchACL(c.acl, c.path); got != c.want {
			t.Errorf("matchACL(%q, %q) = %v, want %v", c.acl, c.path, got, c.want)
		}
	}
}

// Wildcard ACLs end to end: generated, signed, then matched.
func TestVerifyWildcardACL(t *testing.T) {
	tok, err := Generate(Params{Key: key, Expiration: unix(2000), ACL: []string{"/image/*/v1/*.jpg", "/video/*"}}, unix(0))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]error{
		"/image/upload/v1/a/b.jpg": nil,
		"/video/upload/x.mp4":      nil,
		"/image/upload/v2/a.jpg":   ErrACL,
		"/raw/upload/v1/a.jpg":     ErrACL,
	} {
		if err := Verify(tok, key, path, "", unix(1000)); !errors.Is(err, want) {
			t.Errorf("%s: Verify = %v, want %v", path, err, want)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for _, tok := range []string{
		"",
		"hmac=" + sum,
		"~hmac=" + sum,
		"exp=1",
		"exp=1~hmac=" + sum[:63],
		"exp=1~hmac=" + sum + "0",
		"exp=1~hmac=" + strings.Repeat("zz", 32),
		"exp=~hmac=" + sum,
		"exp=-1~hmac=" + sum,
		"exp=1x~hmac=" + sum,
		"exp=1234567890123456789~hmac=" + sum, // 19 digits
		"exp=1~exp=2~hmac=" + sum,
		"st=1~hmac=" + sum,
		"exp=1~st=1~st=1~hmac=" + sum,
		"ip=1.2.3.4~ip=1.2.3.4~exp=1~hmac=" + sum,
		"exp=1~acl=/a~acl=/b~hmac=" + sum,
		"exp=1~url=/a~hmac=" + sum,
		"exp=1~id=x~hmac=" + sum,
		"exp=1~~hmac=" + sum,
		"~exp=1~hmac=" + sum,
		"exp=1~acl~hmac=" + sum,
		"exp=1~acl=~hmac=" + sum,
		"exp=1~hmac=" + sum + "~hmac=" + sum,
		"exp=1~hmac=" + sum + "~",
		"exp=1~hmac=" + sum + "&x=y",
		"exp=1~acl=" + strings.Repeat("a", maxToken) + "~hmac=" + sum,
	} {
		var p parsed
		if err := parse(tok, &p); !errors.Is(err, ErrMalformed) {
			t.Errorf("parse(%.80q) = %v, want ErrMalformed", tok, err)
		}
		if err := Verify(tok, key, "/a", "", unix(0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%.80q) = %v, want ErrMalformed", tok, err)
		}
	}
}

func TestParseFields(t *testing.T) {
	sum := strings.Repeat("0A", 32)
	var p parsed
	tok := "ip=::1~st=5~exp=123456789012345678~acl=%2f*~hmac=" + sum
	if err := parse(tok, &p); err != nil {
		t.Fatal(err)
	}
	if p.ip != "::1" || p.st != 5 || !p.hasST || p.exp != 123456789012345678 || p.acl != "%2f*" || p.sum[0] != 0x0a ||
		p.signed != "ip=::1~st=5~exp=123456789012345678~acl=%2f*" {
		t.Errorf("parse(%q) = %+v", tok, p)
	}
}

func TestFromQuery(t *testing.T) {
	cases := []struct {
		q, want string
		ok      bool
	}{
		{"__cld_token__=exp=1~acl=%2f*~hmac=ab", "exp=1~acl=%2f*~hmac=ab", true},
		{"a=1&__cld_token__=exp=1~hmac=ab&b=2", "exp=1~hmac=ab", true},
		{"x__cld_token__=exp=1", "", false},
		{"__cld_token__x=exp=1", "", false},
		{"__cld_token__=", "", true},
		{"", "", false},
		{"&&", "", false},
	}
	for _, c := range cases {
		got, ok := FromQuery(c.q)
		if got != c.want || ok != c.ok {
			t.Errorf("FromQuery(%q) = %q, %v; want %q, %v", c.q, got, ok, c.want, c.ok)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	for name, p := range map[string]Params{
		"no key":           {Expiration: unix(1), URL: "/a"},
		"no expiry":        {Key: key, URL: "/a"},
		"no acl or url":    {Key: key, Expiration: unix(1)},
		"bad ip":           {Key: key, Expiration: unix(1), URL: "/a", IP: "1.2.3.4~exp=9"},
		"empty acl":        {Key: key, Expiration: unix(1), ACL: []string{""}},
		"acl with the sep": {Key: key, Expiration: unix(1), ACL: []string{"/a!/b"}},
		"before 1970":      {Key: key, Expiration: unix(-5), URL: "/a"},
	} {
		if tok, err := Generate(p, unix(0)); err == nil {
			t.Errorf("%s: Generate = %q, want an error", name, tok)
		}
	}
}

func TestVerifierAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	v := NewVerifier(key)
	acl := sdkToken(t, config.AuthToken{ACL: "/image/upload/*", IP: "198.51.100.1", Expiration: 2000}, "")
	urlTok := sdkToken(t, config.AuthToken{Expiration: 2000}, "/demo/image/authenticated/v1/a b.jpg")
	for _, c := range []struct{ tok, path string }{
		{acl, "/image/upload/v1/a.jpg"},
		{urlTok, "/demo/image/authenticated/v1/a b.jpg"},
	} {
		if err := v.Verify(c.tok, c.path, "198.51.100.1", unix(1000)); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { v.Verify(c.tok, c.path, "198.51.100.1", unix(1000)) }); n != 0 {
			t.Errorf("Verifier.Verify allocates %v times per call", n)
		}
	}
}

func BenchmarkVerifier(b *testing.B) {
	v := NewVerifier(key)
	acl := sdkToken(b, config.AuthToken{ACL: "/image/upload/*", IP: "198.51.100.1", Expiration: 2000}, "")
	urlTok := sdkToken(b, config.AuthToken{Expiration: 2000}, "/demo/image/authenticated/v1/sample.jpg")
	b.Run("acl", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := v.Verify(acl, "/image/upload/v1/a.jpg", "198.51.100.1", unix(1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("url", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := v.Verify(urlTok, "/demo/image/authenticated/v1/sample.jpg", "", unix(1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				v.Verify(acl, "/image/upload/v1/a.jpg", "198.51.100.1", unix(1000))
			}
		})
	})
}

func BenchmarkVerify(b *testing.B) {
	acl := sdkToken(b, config.AuthToken{ACL: "/image/upload/*", Expiration: 2000}, "")
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(acl, key, "/image/upload/v1/a.jpg", "", unix(1000)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	tok := sdkToken(b, config.AuthToken{ACL: "/image/upload/*", IP: "198.51.100.1", StartTime: 1000, Expiration: 2000}, "")
	var p parsed
	b.ReportAllocs()
	for b.Loop() {
		if err := parse(tok, &p); err != nil {
			b.Fatal(err)
		}
	}
}
