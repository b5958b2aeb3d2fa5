package main

import (
	"bytes"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
)

// Only a URL naming the asset's own version is immutable. An overwrite
// shows at once under its new version, within max-age on URLs without
// the asset's version (the SDKs' v1 included), and with invalidate at
// once on every cached URL and format of the asset.
func TestVersionsAndInvalidation(t *testing.T) {
	n := newNode(t, func(c *devConfig) { c.MaxAge = time.Second })
	first := rawUpload(t, n, "image", testimg.JPEG(testimg.Quadrants(120, 80)), "a.jpg", secret, time.Now(), url.Values{"public_id": {"f/x"}})
	if first.status != 200 {
		t.Fatal(first.Error.Message)
	}
	base := "http://" + n.edgeAddr + "/testcloud/image/upload/"
	real := fmt.Sprintf("%sw_60/v%d/f/x.jpg", base, first.Version)
	sdkStyle := base + "w_60/v1/f/x.jpg"
	plain := base + "w_60/f/x.png"
	expectImage(t, fetch(t, real), format.JPEG, 60, 40)
	expectImage(t, fetch(t, sdkStyle), format.JPEG, 60, 40)
	expectImage(t, fetch(t, plain), format.PNG, 60, 40)
	if cc := fetch(t, real).header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("the asset's own version: Cache-Control %q", cc)
	}
	if r := fetch(t, sdkStyle); r.header.Get("Cache-Control") != "public, max-age=1" || r.header.Get("X-Cache") != "HIT" || r.header.Get("Age") == "" {
		t.Errorf("v1 of an asset at another version: %q %q Age %q", r.header.Get("Cache-Control"), r.header.Get("X-Cache"), r.header.Get("Age"))
	}

	// Overwrite without invalidate: the new version has a new URL at once;
	// URLs without the version show it when max-age runs out.
	second := rawUpload(t, n, "image", testimg.JPEG(testimg.Quadrants(80, 80)), "b.jpg", secret, time.Now(), url.Values{"public_id": {"f/x"}})
	if second.status != 200 || second.Version <= first.Version {
		t.Fatalf("overwrite: %d %s, version %d after %d", second.status, second.Error.Message, second.Version, first.Version)
	}
	expectImage(t, fetch(t, fmt.Sprintf("%sw_60/v%d/f/x.jpg", base, second.Version)), format.JPEG, 60, 60)
	expectImage(t, fetch(t, sdkStyle), format.JPEG, 60, 40) // still cached, for at most max-age
	time.Sleep(1100 * time.Millisecond)
	expectImage(t, fetch(t, sdkStyle), format.JPEG, 60, 60)
	expectImage(t, fetch(t, plain), format.PNG, 60, 60)

	// Overwrite with invalidate: every cached URL of the asset, in every
	// format, shows the new bytes at once.
	n2 := newNode(t, func(c *devConfig) { c.MaxAge = time.Hour })
	up := func(w, h int, invalidate bool) uploadResult {
		v := url.Values{"public_id": {"g/y"}}
		if invalidate {
			v.Set("invalidate", "true")
		}
		r := rawUpload(t, n2, "image", testimg.JPEG(testimg.Quadrants(w, h)), "y.jpg", secret, time.Now(), v)
		if r.status != 200 {
			t.Fatal(r.Error.Message)
		}
		return r
	}
	v1 := up(120, 80, false)
	b2 := "http://" + n2.edgeAddr + "/testcloud/image/upload/"
	urls := []string{b2 + "w_60/g/y.jpg", b2 + "w_60/g/y.webp", b2 + "w_60/v1/g/y.jpg", fmt.Sprintf("%sw_60/v%d/g/y.jpg", b2, v1.Version)}
	before := map[string][]byte{}
	for _, u := range urls {
		before[u] = fetch(t, u).body
		if r := fetch(t, u); r.header.Get("X-Cache") != "HIT" {
			t.Fatalf("%s is not cached", u)
		}
	}
	up(80, 80, true)
	for _, u := range urls {
		r := fetch(t, u)
		if r.status != 200 || bytes.Equal(r.body, before[u]) {
			t.Errorf("%s still serves the purged bytes after invalidate (X-Cache %s)", u, r.header.Get("X-Cache"))
		}
	}
}
