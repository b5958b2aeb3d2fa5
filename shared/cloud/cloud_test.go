package cloud

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	c, err := ParseURL("cloudinary://123456:abc-DEF_ghi@my-cloud")
	if err != nil || !reflect.DeepEqual(c, Cloud{Name: "my-cloud", APIKey: "123456", APISecret: "abc-DEF_ghi"}) {
		t.Fatalf("ParseURL = %+v %v", c, err)
	}
	if c.URL() != "cloudinary://123456:abc-DEF_ghi@my-cloud" {
		t.Errorf("URL() = %s", c.URL())
	}
	for _, bad := range []string{"", "http://a:b@c", "cloudinary://a@c", "cloudinary://:b@c", "cloudinary://a:b@"} {
		_, err := ParseURL(bad)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), ":b@") {
			t.Errorf("the secret leaks into the error: %v", err)
		}
	}
	if !c.CheckKey("123456", "abc-DEF_ghi") || c.CheckKey("123456", "abc") || c.CheckKey("1", "abc-DEF_ghi") {
		t.Error("CheckKey")
	}
	r := NewRegistry(c)
	if got, ok := r.Lookup("my-cloud"); !ok || !reflect.DeepEqual(got, c) {
		t.Error("Lookup")
	}
	if _, ok := r.Lookup("other"); ok {
		t.Error("Lookup of an unknown cloud")
	}
}

func TestLookupHost(t *testing.T) {
	r := NewRegistry(Cloud{Name: "a", Hosts: []string{"img.Example.com"}}, Cloud{Name: "b"})
	for _, h := range []string{"img.example.com", "IMG.EXAMPLE.COM"} {
		if c, ok := r.LookupHost(h); !ok || c.Name != "a" {
			t.Errorf("LookupHost(%q) = %v %v", h, c.Name, ok)
		}
	}
	if _, ok := r.LookupHost("example.com"); ok {
		t.Error("an unmapped host found a cloud")
	}
}

func TestFetchAllowed(t *testing.T) {
	c := Cloud{FetchDomains: []string{"images.example.com", "*.cdn.example.org"}}
	for u, want := range map[string]bool{
		"https://images.example.com/a.jpg":      true,
		"http://IMAGES.example.com:8080/a.jpg":  true,
		"https://x.cdn.example.org/a.jpg":       true,
		"https://a.b.cdn.example.org/a.jpg":     true,
		"https://cdn.example.org/a.jpg":         false, // *. means a subdomain
		"https://evilcdn.example.org/a.jpg":     false,
		"https://images.example.com.evil/a.jpg": false,
		"ftp://images.example.com/a.jpg":        false,
		"https://other.example.com/a.jpg":       false,
		"images.example.com/a.jpg":              false,
	} {
		if _, ok := c.FetchAllowed(u); ok != want {
			t.Errorf("FetchAllowed(%q) = %v, want %v", u, ok, want)
		}
	}
	if _, ok := (Cloud{}).FetchAllowed("https://images.example.com/a.jpg"); ok {
		t.Error("a cloud without fetch_domains allowed a fetch")
	}
}
