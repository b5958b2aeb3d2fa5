package urlapi

import (
	"strings"
	"testing"
)

func TestParseFetch(t *testing.T) {
	const remote = "https://images.example.com/a/b.jpg"
	cases := []struct {
		path string
		want Request
	}{
		{"/demo/image/fetch/" + remote, Request{Cloud: "demo", ResourceType: Image, Type: Fetch, PublicID: remote}},
		{"/demo/image/fetch/w_300,c_fill/f_auto/" + remote,
			Request{Cloud: "demo", ResourceType: Image, Type: Fetch, Tx: "w_300,c_fill/f_auto", PublicID: remote}},
		{"/demo/image/fetch/s--abcdefgh--/w_10/" + remote,
			Request{Cloud: "demo", ResourceType: Image, Type: Fetch, Signature: "abcdefgh", Tx: "w_10", PublicID: remote}},
		// Encoded whole, as the SDKs write URLs with a query.
		{"/demo/image/fetch/w_10/https%3A%2F%2Fimages.example.com%2Fa%2Fb.jpg%3Fx%3D1",
			Request{Cloud: "demo", ResourceType: Image, Type: Fetch, Tx: "w_10", PublicID: remote + "?x=1"}},
		// A proxy folded the "//".
		{"/demo/image/fetch/https:/images.example.com/a/b.jpg", Request{Cloud: "demo", ResourceType: Image, Type: Fetch, PublicID: remote}},
		// Escapes inside a plain URL belong to the remote URL.
		{"/demo/image/fetch/http://x.example/a%20b.png", Request{Cloud: "demo", ResourceType: Image, Type: Fetch, PublicID: "http://x.example/a%20b.png"}},
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
	var r Request
	if err := ParseHost("demo", "/image/fetch/w_5/"+remote, &r); err != nil || r.Type != Fetch || r.PublicID != remote || r.Tx != "w_5" {
		t.Errorf("ParseHost fetch: %+v %v", r, err)
	}
}

func TestParseFetchErrors(t *testing.T) {
	cases := map[string]int{
		"/demo/image/fetch/":                                                      400,
		"/demo/image/fetch/w_300":                                                 400,
		"/demo/image/fetch/w_300/ftp://x.example/a.jpg":                           400,
		"/demo/image/fetch/folder/https://x.example/a.jpg":                        400, // not a transformation
		"/demo/image/fetch/https://":                                              400,
		"/demo/image/fetch/https://user:pw@x.example/a.jpg":                       400,
		"/demo/image/fetch/https%3A%2F%2Fx.example%2F%0Aa.jpg":                    400,
		"/demo/image/fetch/https%3A%2F%2Fx.example%2F%zz":                         400,
		"/demo/raw/fetch/https://x.example/a.pdf":                                 400,
		"/demo/image/fetch/s--x--/https://x.example/a.jpg":                        401,
		"/demo/image/fetch/https://x.example/" + strings.Repeat("a", MaxFetchURL): 414,
	}
	expectStatuses(t, cases)
}

func TestFetchIsNotAStorageType(t *testing.T) {
	if _, ok := ParseType("fetch"); ok {
		t.Error("ParseType accepted fetch: uploads could be stored as fetch assets")
	}
	if typ, ok := ParseDeliveryType("fetch"); !ok || typ != Fetch || typ.String() != "fetch" {
		t.Errorf("ParseDeliveryType(fetch) = %v %v", typ, ok)
	}
	if Type(9).String() != "" {
		t.Error("an unknown type has a name")
	}
}
