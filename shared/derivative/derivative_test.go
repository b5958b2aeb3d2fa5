package derivative

import (
	"bytes"
	"net/url"
	"testing"

	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

func key(t *testing.T, path string, acc format.Accepts) []byte {
	t.Helper()
	var r urlapi.Request
	var ch transform.Chain
	if err := urlapi.Parse(path, &r); err != nil {
		t.Fatal(err)
	}
	if err := transform.Parse(r.Tx, &ch); err != nil {
		t.Fatal(err)
	}
	return AppendKey(nil, &r, ch.AppendCanonical(nil), OutputFormat(&r, &ch), acc)
}

func TestKeys(t *testing.T) {
	a := key(t, "/demo/image/upload/w_300,c_scale/sample.jpg", 0)
	same := [][]byte{
		key(t, "/demo/image/upload/c_scale,w_300/sample.jpg", 0),
		key(t, "/demo/image/upload/w_300,c_scale/sample.jpeg", 0),
		key(t, "/demo/images/w_300,c_scale/sample/seo-name.jpg", 0),
		key(t, "/demo/image/upload/w_300,c_scale/sample.jpg", format.AcceptWebP), // not negotiated
	}
	for i, k := range same {
		if !bytes.Equal(a, k) {
			t.Errorf("key %d differs from the canonical one", i)
		}
	}
	differ := [][]byte{
		key(t, "/demo/image/upload/w_301,c_scale/sample.jpg", 0),
		key(t, "/demo/image/upload/w_300,c_scale/sample.png", 0),
		key(t, "/demo/image/upload/w_300,c_scale/v2/sample.jpg", 0),
		key(t, "/demo/image/private/w_300,c_scale/sample.jpg", 0),
		key(t, "/other/image/upload/w_300,c_scale/sample.jpg", 0),
	}
	for i, k := range differ {
		if bytes.Equal(a, k) {
			t.Errorf("key %d collides with a different derivative", i)
		}
	}
	auto := key(t, "/demo/image/upload/f_auto/sample", 0)
	if bytes.Equal(auto, key(t, "/demo/image/upload/f_auto/sample", format.AcceptWebP)) {
		t.Error("f_auto keys must differ by what the client accepts")
	}
}

func TestQueryRoundTrip(t *testing.T) {
	s := Spec{Cloud: "demo", ResourceType: urlapi.Image, Type: urlapi.Private, PublicID: "a b/ü:d=e",
		Tx: "c_scale,w_300", Format: format.Auto, Accepts: format.AcceptAVIF, Signed: true}
	q, err := url.ParseQuery(s.Query())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseQuery(q)
	if err != nil || got != s {
		t.Errorf("round trip: %+v %v", got, err)
	}
	q.Set("signed", "yes")
	if _, err := ParseQuery(q); err == nil {
		t.Error("a malformed signed flag was accepted")
	}
	q.Set("signed", "0")
	q.Set("id", "../etc/passwd")
	if _, err := ParseQuery(q); err == nil {
		t.Error("a traversing public_id was accepted")
	}
}

func TestStorageName(t *testing.T) {
	a := StorageName("c_scale,w_300", format.JPEG)
	if len(a) != 32+4 || a == StorageName("c_scale,w_300", format.WebP) || a == StorageName("c_scale,w_301", format.JPEG) {
		t.Errorf("StorageName: %q", a)
	}
}

func TestQueryFetch(t *testing.T) {
	s := Spec{Cloud: "demo", ResourceType: urlapi.Image, Type: urlapi.Fetch, PublicID: "https://x.example/a b.jpg?q=1", Tx: "w_10"}
	q, _ := url.ParseQuery(s.Query())
	if got, err := ParseQuery(q); err != nil || got != s {
		t.Errorf("fetch round trip: %+v %v", got, err)
	}
	for _, id := range []string{"file:///etc/passwd", "folder/a", "https://u:p@x.example/a.jpg"} {
		q.Set("id", id)
		if _, err := ParseQuery(q); err == nil {
			t.Errorf("fetch id %q was accepted", id)
		}
	}
	q.Set("id", "https://x.example/a.jpg")
	q.Set("rt", "raw")
	if _, err := ParseQuery(q); err == nil {
		t.Error("a raw fetch was accepted")
	}
}

func TestKeyHashes(t *testing.T) {
	var r urlapi.Request
	if err := urlapi.Parse("/demo/image/upload/w_300/v7/a/b.jpg", &r); err != nil {
		t.Fatal(err)
	}
	webp := AppendKey(nil, &r, []byte("w_300"), format.Auto, format.AcceptWebP)
	avif := AppendKey(nil, &r, []byte("w_300"), format.Auto, format.AcceptAVIF|format.AcceptWebP)
	none := AppendKey(nil, &r, []byte("w_300"), format.Auto, 0)
	c1, v1, versioned := KeyHashes(webp)
	c2, v2, _ := KeyHashes(avif)
	c3, v3, _ := KeyHashes(none)
	if !versioned {
		t.Error("a key of a URL with v7 reads as unversioned")
	}
	if c1 != CloudHash("demo") || c1 != c2 || c1 != c3 {
		t.Error("the cloud hash differs between keys of one cloud")
	}
	if v1 == 0 || v1 != v2 || v1 != v3 {
		t.Error("f_auto variants of one URL have different variant hashes")
	}
	jpeg := AppendKey(nil, &r, []byte("w_300"), format.JPEG, 0)
	other := AppendKey(nil, &r, []byte("w_301"), format.Auto, format.AcceptWebP)
	if _, v, _ := KeyHashes(jpeg); v == v1 {
		t.Error("an explicit format shares the f_auto variant")
	}
	if _, v, _ := KeyHashes(other); v == v1 {
		t.Error("another transformation shares the variant")
	}
	var plain urlapi.Request
	urlapi.Parse("/demo/image/upload/w_300/a/b.jpg", &plain)
	if _, _, versioned := KeyHashes(AppendKey(nil, &plain, []byte("w_300"), format.JPEG, 0)); versioned {
		t.Error("a key of a URL without a version reads as versioned")
	}
	for _, bad := range [][]byte{nil, []byte("demo"), []byte("demo\x00\x01")} {
		if _, v, _ := KeyHashes(bad); v != 0 {
			t.Errorf("malformed key %q gave a variant", bad)
		}
	}
}
