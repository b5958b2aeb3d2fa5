package urlapi

import (
	"strings"
	"testing"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/sign"
)

func TestParse(t *testing.T) {
	cases := []struct {
		path string
		want Request
	}{
		{"/demo/image/upload/sample.jpg", Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "sample", Ext: "jpg"}},
		{"/demo/image/upload/w_300,c_scale/v1700000000/sample.jpg",
			Request{Cloud: "demo", ResourceType: Image, Type: Upload, Tx: "w_300,c_scale", Version: "1700000000", PublicID: "sample", Ext: "jpg"}},
		{"/demo/image/upload/w_300/e_blur/sample",
			Request{Cloud: "demo", ResourceType: Image, Type: Upload, Tx: "w_300/e_blur", PublicID: "sample"}},
		{"/demo/image/upload/v1/folder/sub/x.png",
			Request{Cloud: "demo", ResourceType: Image, Type: Upload, Version: "1", PublicID: "folder/sub/x", Ext: "png"}},
		{"/demo/image/upload/folder/w_300/x.png", // a folder that is not first cannot be a transformation
			Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "folder/w_300/x", Ext: "png"}},
		{"/demo/image/upload/my_folder/x.png", // "my" is not a parameter
			Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "my_folder/x", Ext: "png"}},
		{"/demo/image/private/s--abcdefgh--/w_10/v2/a.webp",
			Request{Cloud: "demo", ResourceType: Image, Type: Private, Signature: "abcdefgh", Tx: "w_10", Version: "2", PublicID: "a", Ext: "webp"}},
		{"/demo/image/authenticated/s--2hbrSMPOjj5BJ4xV7SgFbRDevFaQNUFf--/sample.jpg",
			Request{Cloud: "demo", ResourceType: Image, Type: Authenticated, Signature: "2hbrSMPOjj5BJ4xV7SgFbRDevFaQNUFf", PublicID: "sample", Ext: "jpg"}},
		{"/demo/raw/upload/v3/docs/report.pdf",
			Request{Cloud: "demo", ResourceType: Raw, Type: Upload, Version: "3", PublicID: "docs/report.pdf"}},
		{"/demo/iu/w_5/x.gif", Request{Cloud: "demo", ResourceType: Image, Type: Upload, Tx: "w_5", PublicID: "x", Ext: "gif"}},
		{"/demo/images/w_5/v1/dog/cute-puppy.jpg",
			Request{Cloud: "demo", ResourceType: Image, Type: Upload, Tx: "w_5", Version: "1", PublicID: "dog", Ext: "jpg", Suffix: "cute-puppy"}},
		{"/demo/files/v1/doc/annual-report",
			Request{Cloud: "demo", ResourceType: Raw, Type: Upload, Version: "1", PublicID: "doc", Suffix: "annual-report"}},
		{"/demo/image/upload/my+file%20x.jpg", Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "my file x", Ext: "jpg"}},
		{"/demo/image/upload/photo.v2.JPG", // unknown (upper-case) extension stays in the id
			Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "photo.v2.JPG"}},
		{"/demo/image/upload/v17", Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "v17"}},
		{"/demo/image/upload/f_auto/sample", Request{Cloud: "demo", ResourceType: Image, Type: Upload, Tx: "f_auto", PublicID: "sample"}},
		// Only a dot after the last '/' can start an extension, and not as
		// the id's first byte.
		{"/demo/image/upload/a.png/b", Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "a.png/b"}},
		{"/demo/image/upload/v1/x.y/z.png", Request{Cloud: "demo", ResourceType: Image, Type: Upload, Version: "1", PublicID: "x.y/z", Ext: "png"}},
		{"/demo/image/upload/a.b.webp", Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "a.b", Ext: "webp"}},
		{"/demo/image/upload/x.auto", Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "x.auto"}},
		{"/demo/image/upload/.png", Request{Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: ".png"}},
	}
	for _, c := range cases {
		var r Request
		if err := Parse(c.path, &r); err != nil {
			t.Errorf("Parse(%q): %v", c.path, err)
			continue
		}
		if r != c.want {
			t.Errorf("Parse(%q) =\n %+v, want\n %+v", c.path, r, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]int{
		"/demo/image/upload/a/.png":         400, // the id would end in '/'
		"":                                  404,
		"/":                                 404,
		"/demo":                             404,
		"/demo/image/upload/":               404,
		"/demo/video/upload/dog.mp4":        501,
		"/demo/videos/v1/dog/cute.mp4":      501,
		"/demo/pictures/upload/x.jpg":       400,
		"/demo/image/list/x.jpg":            400,
		"/de mo/image/upload/x.jpg":         404,
		"/demo/image/upload/a/../b.jpg":     400,
		"/demo/image/upload/a//b.jpg":       400,
		"/demo/image/upload/%2e%2e/etc.jpg": 400,
		"/demo/image/upload/a%00b.jpg":      400,
		"/demo/image/upload/a%zz.jpg":       400,
		"/demo/images/v1/only.jpg":          400,
		"/demo/image/upload/s--x--/a.jpg":   401,
	}
	expectStatuses(t, cases)
}

// expectStatuses checks that each path fails to parse with its status.
func expectStatuses(t *testing.T, cases map[string]int) {
	t.Helper()
	for path, status := range cases {
		var r Request
		err := Parse(path, &r)
		if err == nil {
			t.Errorf("Parse(%q) succeeded: %+v", path, r)
			continue
		}
		if got := clderr.Status(err); got != status {
			t.Errorf("Parse(%q) status %d (%v), want %d", path, got, err, status)
		}
	}
}

func TestParseHost(t *testing.T) {
	var r Request
	if err := ParseHost("demo", "/image/upload/w_1/a.jpg", &r); err != nil || r.Cloud != "demo" || r.PublicID != "a" || r.Tx != "w_1" {
		t.Errorf("ParseHost: %+v %v", r, err)
	}
}

func TestToSignAndVerify(t *testing.T) {
	// The SDK signs <tx>/<public_id.ext>, without version or suffix.
	path := "/demo/image/upload/s--QGYkTi9b--/w_300,c_scale/v1700000000/sample.jpg"
	var r Request
	if err := Parse(path, &r); err != nil {
		t.Fatal(err)
	}
	b := r.AppendToSign(nil)
	if string(b) != "w_300,c_scale/sample.jpg" {
		t.Fatalf("AppendToSign = %q", b)
	}
	if !sign.VerifyDelivery(b, r.Signature, "b") {
		t.Error("the reference vector does not verify through the parser")
	}
	if err := Parse("/demo/image/upload/l_text:Arial_20:a%2520b/x.jpg", &r); err != nil {
		t.Fatal(err)
	}
	if got := string(r.AppendToSign(nil)); got != "l_text:Arial_20:a b/x.jpg" {
		t.Errorf("escapes are not decoded before signing: %q", got)
	}
}

func TestFormat(t *testing.T) {
	var r Request
	_ = Parse("/demo/image/upload/x.jpeg", &r)
	if r.Format() != format.JPEG {
		t.Errorf("Format = %v", r.Format())
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	var r Request
	path := "/demo/image/upload/w_300,c_scale/v1700000000/folder/sample.jpg"
	if n := testing.AllocsPerRun(200, func() { _ = Parse(path, &r) }); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/demo/image/upload/w_300,c_scale/v1700000000/sample.jpg",
		"/demo/image/private/s--abcdefgh--/w_10/v2/a.webp",
		"/demo/images/w_5/v1/dog/cute-puppy.jpg",
		"/demo/raw/upload/v3/docs/report.pdf",
		"/demo/iu/my+file%20x.jpg",
		"/demo/image/upload/v1/v2/v3",
		"/demo/image/fetch/w_300,c_fill/https://x.example/a.jpg",
		"/demo/image/fetch/s--abcdefgh--/https%3A%2F%2Fx.example%2Fa.jpg%3Fv%3D1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		var r Request
		if err := Parse(path, &r); err != nil {
			if s := clderr.Status(err); s < 400 || s > 501 {
				t.Fatalf("Parse(%q): status %d", path, s)
			}
			return
		}
		if r.Cloud == "" || r.PublicID == "" || r.ResourceType == 0 || r.Type == 0 {
			t.Fatalf("Parse(%q) succeeded with an incomplete request %+v", path, r)
		}
		validate := ValidatePublicID
		if r.Type == Fetch {
			validate = ValidateFetchURL
		}
		if validate(r.PublicID) != nil {
			t.Fatalf("Parse(%q) returned an invalid public_id %q", path, r.PublicID)
		}
		_ = r.AppendToSign(nil)
		checkPlainID(t, path)
	})
}

// checkPlainID: the fast path accepts only what the slow path would,
// unchanged.
func checkPlainID(t *testing.T, id string) {
	t.Helper()
	if plainID(id) && (ValidatePublicID(id) != nil || strings.ContainsAny(id, "%+")) {
		t.Fatalf("plainID accepts %q, which decodeID would change or refuse", id)
	}
}

func TestPlainID(t *testing.T) {
	for _, id := range []string{"sample", "folder/sample", "a/b/c.d-e_f~g h", strings.Repeat("x", 240)} {
		if !plainID(id) {
			t.Errorf("plainID(%q) = false", id)
		}
	}
	for _, id := range []string{"", "/a", "a/", "a//b", "./a", "a/..", "a%20b", "a+b", "a?b", "a#b", `a\b`,
		"a<b", "a>b", "a&b", "a\x01b", "a\x7fb", "caf\u00e9", strings.Repeat("x", 241), strings.Repeat("x/", 128) + "x"} {
		checkPlainID(t, id)
		if plainID(id) {
			t.Errorf("plainID(%q) = true", id)
		}
	}
}

func TestPath(t *testing.T) {
	got := Path("demo", "image", "upload", "c_fill,w_100", 17, "a b/ü?#/x", "jpg")
	if want := "/demo/image/upload/c_fill,w_100/v17/a%20b/%C3%BC%3F%23/x.jpg"; got != want {
		t.Errorf("Path = %s, want %s", got, want)
	}
	if got := Path("demo", "raw", "private", "", 1, "f.txt", ""); got != "/demo/raw/private/v1/f.txt" {
		t.Errorf("raw Path = %s", got)
	}
	// What Path writes parses back to the same asset.
	var r Request
	p := Path("demo", "image", "upload", "w_10", 5, "dir/a b", "png")
	if err := Parse(p, &r); err != nil || r.PublicID != "dir/a b" || r.Version != "5" || r.Ext != "png" || r.Tx != "w_10" {
		t.Errorf("Parse(%s) = %+v %v", p, r, err)
	}
}

func TestValidatePublicIDText(t *testing.T) {
	for _, id := range []string{"a\xffb", "\U0010FFFFx", "dir/\xc3"} {
		if err := ValidatePublicID(id); err == nil {
			t.Errorf("ValidatePublicID(%q) accepted it", id)
		}
	}
	if err := ValidatePublicID("dir/ünïcødé 名前"); err != nil {
		t.Errorf("a UTF-8 public_id: %v", err)
	}
}

func BenchmarkParse(b *testing.B) {
	var r Request
	path := "/demo/image/upload/w_300,c_scale/v1700000000/folder/sample.jpg"
	for b.Loop() {
		_ = Parse(path, &r)
	}
}

func TestParseHostRoot(t *testing.T) {
	var r Request
	for path, want := range map[string]Request{
		"/sample.jpg":               {Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "sample", Ext: "jpg"},
		"/w_300,c_scale/sample.jpg": {Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "sample", Ext: "jpg", Tx: "w_300,c_scale"},
		"/v5/dir/a.png":             {Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "dir/a", Ext: "png", Version: "5"},
		"/favicon.ico":              {Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "favicon"},
		"/iu/w_1/a.jpg":             {Cloud: "demo", ResourceType: Image, Type: Upload, PublicID: "a", Ext: "jpg", Tx: "w_1"},
		"/image/private/a.jpg":      {Cloud: "demo", ResourceType: Image, Type: Private, PublicID: "a", Ext: "jpg"},
	} {
		if err := ParseHost("demo", path, &r); err != nil || r != want {
			t.Errorf("ParseHost(%s) = %+v %v, want %+v", path, r, err, want)
		}
	}
}
