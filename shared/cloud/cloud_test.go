package cloud

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	c, err := ParseURL("cloudinary://123456:abc-DEF_ghi@my-cloud")
	if err != nil || c != (Cloud{Name: "my-cloud", APIKey: "123456", APISecret: "abc-DEF_ghi"}) {
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
	if got, ok := r.Lookup("my-cloud"); !ok || got != c {
		t.Error("Lookup")
	}
	if _, ok := r.Lookup("other"); ok {
		t.Error("Lookup of an unknown cloud")
	}
}
