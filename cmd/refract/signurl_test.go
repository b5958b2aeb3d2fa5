package main

import (
	"bytes"
	"testing"
)

func TestSignURL(t *testing.T) {
	var out bytes.Buffer
	// The reference vector: secret "b", "w_300,c_scale/sample.jpg" -> QGYkTi9b.
	err := runSignURL([]string{"-cloudinary-url", "cloudinary://k:b@demo", "/demo/image/upload/w_300,c_scale/v12/sample.jpg"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "/demo/image/upload/s--QGYkTi9b--/w_300,c_scale/v12/sample.jpg\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	out.Reset()
	if err := runSignURL([]string{"-long", "-cloudinary-url", "cloudinary://k:b@demo", "/demo/image/upload/sample.jpg"}, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "/demo/image/upload/s--2hbrSMPOjj5BJ4xV7SgFbRDevFaQNUFf--/sample.jpg\n"; got != want {
		t.Errorf("long: got %q, want %q", got, want)
	}
	// The shortened and SEO forms put the signature after their one segment.
	for path, want := range map[string]string{
		"/demo/iu/w_300,c_scale/sample.jpg":              "/demo/iu/s--QGYkTi9b--/w_300,c_scale/sample.jpg\n",
		"/demo/images/w_300,c_scale/sample/seo-name.jpg": "/demo/images/s--QGYkTi9b--/w_300,c_scale/sample/seo-name.jpg\n",
	} {
		out.Reset()
		if err := runSignURL([]string{"-cloudinary-url", "cloudinary://k:b@demo", path}, &out); err != nil || out.String() != want {
			t.Errorf("%s: %q %v, want %q", path, out.String(), err, want)
		}
	}
	for _, bad := range [][]string{
		{"-cloudinary-url", "cloudinary://k:b@demo"},
		{"-cloudinary-url", "nope", "/demo/image/upload/a.jpg"},
		{"-cloudinary-url", "cloudinary://k:b@demo", "/demo/image/upload/s--QGYkTi9b--/a.jpg"},
	} {
		if err := runSignURL(bad, &out); err == nil {
			t.Errorf("runSignURL(%q) succeeded", bad)
		}
	}
}
