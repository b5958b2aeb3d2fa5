package transform

import (
	"strings"
	"testing"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
)

func TestCanonical(t *testing.T) {
	cases := map[string]string{
		"":                           "",
		"w_300,c_scale":              "c_scale,w_300",
		"c_scale,w_300":              "c_scale,w_300",
		"w_0.5":                      "w_0.5",
		"w_1.0":                      "w_1.0",
		"w_1":                        "w_1",
		"h_200,w_200,c_fill,g_north": "c_fill,g_north,h_200,w_200",
		"w_300/e_blur":               "w_300/e_blur:100",
		"e_blur:100":                 "e_blur:100",
		"e_sharpen:50,e_grayscale":   "e_grayscale", // last e_ wins
		"e_grayscale":                "e_grayscale",
		"ar_16:9,c_fill,w_400":       "ar_16:9,c_fill,w_400",
		"ar_1.5":                     "ar_1.5",
		"q_auto":                     "q_auto:good",
		"q_auto:eco":                 "q_auto:eco",
		"q_80":                       "q_80",
		"f_jpeg":                     "f_jpg",
		"f_auto":                     "f_auto",
		"dpr_2.0":                    "dpr_2",
		"a_90":                       "a_90",
		"a_hflip.vflip":              "a_hflip.vflip",
		"a_vflip.hflip":              "a_hflip.vflip",
		"a_-45":                      "a_-45",
		"b_red":                      "b_rgb:ff0000",
		"b_rgb:F00":                  "b_rgb:ff0000",
		"b_rgb:ff000080":             "b_rgb:ff000080",
		"b_transparent":              "b_rgb:00000000",
		"fl_progressive":             "fl_progressive",
		"c_crop,x_10,y_-0.5,w_100":   "c_crop,w_100,x_10,y_-0.5",
		"g_auto,c_fill,w_100,h_100":  "c_fill,g_auto,h_100,w_100",
	}
	for in, want := range cases {
		expectCanonical(t, in, want)
	}
}

// expectCanonical checks that in parses to the canonical form want, and
// that want parses to itself.
func expectCanonical(t *testing.T, in, want string) {
	t.Helper()
	var ch Chain
	if err := Parse(in, &ch); err != nil {
		t.Errorf("Parse(%q): %v", in, err)
		return
	}
	if got := ch.String(); got != want {
		t.Errorf("canonical(%q) = %q, want %q", in, got, want)
	}
	var again Chain
	if err := Parse(want, &again); err != nil || again.String() != want {
		t.Errorf("canonical form %q does not round-trip: %q, %v", want, again.String(), err)
	}
}

// expectError checks that in is refused with a 400 saying want.
func expectError(t *testing.T, in, want string) {
	t.Helper()
	var ch Chain
	err := Parse(in, &ch)
	if err == nil {
		t.Errorf("Parse(%q) succeeded, want %q", in, want)
		return
	}
	if clderr.Status(err) != 400 || err.Error() != want {
		t.Errorf("Parse(%q) = %d %q, want 400 %q", in, clderr.Status(err), err, want)
	}
}

func TestValues(t *testing.T) {
	var ch Chain
	if err := Parse("w_0.25,h_300,c_fill,g_south_east,q_70,f_webp/e_blur:300", &ch); err != nil {
		t.Fatal(err)
	}
	c := ch.Components[0]
	if c.Width != (Size{0.25, true}) || c.Height != (Size{300, false}) {
		t.Errorf("sizes: %+v %+v", c.Width, c.Height)
	}
	if c.Crop != CropFill || c.Gravity != GravitySouthEast || c.Quality.Q != 70 {
		t.Errorf("component: %+v", c)
	}
	if ch.Format() != format.WebP {
		t.Errorf("Format() = %v", ch.Format())
	}
	if q, ok := ch.Quality(); !ok || q.Q != 70 {
		t.Errorf("Quality() = %v %v", q, ok)
	}
	if e := ch.Components[1].Effect; e.Kind != EffectBlur || e.Level != 300 {
		t.Errorf("effect: %+v", e)
	}
	if w := c.Width.Resolve(1200); w != 300 {
		t.Errorf("Resolve = %v", w)
	}
	if !c.Has(ParamCrop) || c.Has(ParamAngle) {
		t.Error("Has is wrong")
	}
}

func TestErrors(t *testing.T) {
	cases := map[string]string{
		"w_abc":               "Invalid width - abc",
		"h_-5":                "Invalid height - -5",
		"w_0":                 "Invalid width - 0",
		"w_1e3":               "Invalid width - 1e3",
		"w_NaN":               "Invalid width - NaN",
		"w_":                  "Invalid width - ",
		"w_300,c_squash":      "Invalid crop mode - squash",
		"g_up":                "Invalid gravity - up",
		"q_0":                 "Invalid quality - 0",
		"q_101":               "Invalid quality - 101",
		"q_auto:ultra":        "Invalid quality - auto:ultra",
		"f_bmp":               "Invalid format - bmp",
		"e_melt":              "Invalid effect - melt",
		"e_blur:0":            "Invalid effect - blur:0",
		"e_grayscale:5":       "Invalid effect - grayscale:5",
		"a_sideways":          "Invalid angle - sideways",
		"a_400":               "Invalid angle - 400",
		"b_notacolour":        "Invalid background - notacolour",
		"b_rgb:12345":         "Invalid background - rgb:12345",
		"fl_bogus":            "Invalid flag - bogus",
		"ar_0:1":              "Invalid aspect ratio - 0:1",
		"ar_1001":             "Invalid aspect ratio - 1001",
		"ar_1:5000":           "Invalid aspect ratio - 1:5000",
		"ar_9999999999999999": "Invalid aspect ratio - 9999999999999999",
		"dpr_9":               "Invalid dpr - 9",
		"foo_bar":             "Invalid transformation parameter - foo",
		"w300":                "Invalid transformation component - w300",
		"w_100//h_100":        "Invalid transformation component - empty component",
		"zz":                  "Invalid transformation component - zz",
		"g_auto,c_scale,w_10": "Use auto gravity only with crop, fill, lfill, fill_pad or thumb",
		"fps_10":              "Transformation parameter fps_ is not supported yet",
	}
	for in, want := range cases {
		expectError(t, in, want)
	}
	var ch Chain
	if err := Parse(strings.Repeat("w_1/", MaxComponents)+"w_1", &ch); err == nil {
		t.Error("too many components accepted")
	}
	if err := Parse(strings.Repeat("w", MaxLength+1), &ch); err == nil {
		t.Error("overlong transformation accepted")
	}
}

func TestLooksLikeComponent(t *testing.T) {
	for seg, want := range map[string]bool{
		"w_300,c_scale": true, "e_blur:300": true, "l_text:Arial_20:hi": true,
		"$w_100": true, "folder": false, "my_folder": false, "w_300,my_x": false, "": false,
	} {
		if got := LooksLikeComponent(seg); got != want {
			t.Errorf("LooksLikeComponent(%q) = %v", seg, got)
		}
	}
}

func TestParseAndCanonicalDoNotAllocate(t *testing.T) {
	var ch Chain
	buf := make([]byte, 0, 1024)
	const tx = "w_300,h_200,c_fill,g_north,q_auto,f_auto/e_sharpen:80/b_rgb:ff0000,a_90" +
		"/$w_200,if_iw_gt_400,w_$w_mul_2,e_outline:inner:5:10/l_docs:logo,w_0.2/fl_layer_apply.attachment:x,g_south_east" +
		"/l_text:Arial_20_bold:Hi%20there,co_red/fl_layer_apply,r_10:20,bo_2px_solid_blue,o_50,z_1.5,t_thumb,d_a:b.png"
	_ = Parse(tx, &ch)
	n := testing.AllocsPerRun(200, func() {
		if err := Parse(tx, &ch); err != nil {
			t.Fatal(err)
		}
		buf = ch.AppendCanonical(buf[:0])
	})
	if n != 0 {
		t.Errorf("Parse+AppendCanonical allocates %v times per run", n)
	}
}

func BenchmarkParseCanonical(b *testing.B) {
	var ch Chain
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		_ = Parse("w_300,h_200,c_fill,g_north,q_auto,f_auto", &ch)
		buf = ch.AppendCanonical(buf[:0])
	}
}
