package delivery

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

func TestResolveDPR(t *testing.T) {
	cases := []struct {
		hdr, val string
		want     string
	}{
		{"", "", "dpr_1,w_100"},
		{"DPR", "2", "dpr_2,w_100"},
		{"Sec-CH-DPR", "2.625", "dpr_3,w_100"}, // rounds up to a step
		{"Sec-CH-DPR", "1.2", "dpr_1.5,w_100"},
		{"DPR", "9", "dpr_4,w_100"}, // capped
		{"DPR", "nonsense", "dpr_1,w_100"},
		{"DPR", "-2", "dpr_1,w_100"},
		{"DPR", "NaN", "dpr_1,w_100"},
	}
	for _, c := range cases {
		var ch transform.Chain
		if err := transform.Parse("w_100,dpr_auto", &ch); err != nil {
			t.Fatal(err)
		}
		var h fasthttp.RequestHeader
		if c.hdr != "" {
			h.Set(c.hdr, c.val)
		}
		if !resolveDPR(&ch, &h) {
			t.Fatalf("%s: dpr_auto not reported", c.val)
		}
		if got := ch.String(); got != c.want {
			t.Errorf("%s=%s: %s, want %s", c.hdr, c.val, got, c.want)
		}
	}
	// Sec-CH-DPR wins over DPR.
	var ch transform.Chain
	transform.Parse("dpr_auto", &ch)
	var h fasthttp.RequestHeader
	h.Set("DPR", "1")
	h.Set("Sec-CH-DPR", "2")
	resolveDPR(&ch, &h)
	if ch.String() != "dpr_2" {
		t.Errorf("Sec-CH-DPR ignored: %s", ch.String())
	}
	transform.Parse("dpr_2,w_10", &ch)
	if resolveDPR(&ch, &h) || ch.String() != "dpr_2,w_10" {
		t.Error("a fixed dpr was treated as auto")
	}
}

func TestVary(t *testing.T) {
	for _, c := range []struct {
		accept, hints bool
		want          string
	}{{false, false, ""}, {true, false, "Accept"}, {false, true, "Sec-CH-DPR, DPR"}, {true, true, "Accept, Sec-CH-DPR, DPR"}} {
		if got := vary(c.accept, c.hints); got != c.want {
			t.Errorf("vary(%v, %v) = %q", c.accept, c.hints, got)
		}
	}
}

func TestDisposition(t *testing.T) {
	cases := []struct{ tx, id, ext, ct, want string }{
		{"fl_attachment", "folder/cat", "jpg", "image/jpeg", `attachment; filename="cat.jpg"`},
		{"fl_attachment:my_cat,w_10", "folder/cat", "", "image/webp", `attachment; filename="my_cat.webp"`},
		{"fl_attachment", "cat", "png", "application/octet-stream", `attachment; filename="cat.png"`},
		{"fl_attachment", `we"ird`, "", "image/png", `attachment; filename="weird.png"`},
	}
	for _, c := range cases {
		var ch transform.Chain
		if err := transform.Parse(c.tx, &ch); err != nil {
			t.Fatal(err)
		}
		r := urlapi.Request{PublicID: c.id, Ext: c.ext}
		if got := disposition(&ch, &r, c.ct); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.tx, c.id, got, c.want)
		}
	}
}
