package render

import (
	"image"
	"testing"

	"github.com/refract-cdn/refract/shared/transform"
)

func comp(t *testing.T, tx string) *transform.Component {
	t.Helper()
	var ch transform.Chain
	if err := transform.Parse(tx, &ch); err != nil {
		t.Fatalf("Parse(%q): %v", tx, err)
	}
	return &ch.Components[0]
}

func TestPlan(t *testing.T) {
	cases := []struct {
		inW, inH int
		tx       string
		out      [2]int
		resize   [2]int
	}{
		{1200, 800, "w_300,c_scale", [2]int{300, 200}, [2]int{300, 200}},
		{1200, 800, "w_300", [2]int{300, 200}, [2]int{300, 200}},
		{1200, 800, "h_400", [2]int{600, 400}, [2]int{600, 400}},
		{1200, 800, "w_300,h_300,c_scale", [2]int{300, 300}, [2]int{300, 300}},
		{1200, 800, "w_0.5", [2]int{600, 400}, [2]int{600, 400}},
		{1280, 853, "w_640", [2]int{640, 427}, [2]int{640, 427}}, // 426.5 rounds up, as Cloudinary's docs show
		{1200, 800, "w_300,h_300,c_fit", [2]int{300, 200}, [2]int{300, 200}},
		{300, 200, "w_600,h_600,c_fit", [2]int{600, 400}, [2]int{600, 400}},
		{300, 200, "w_600,h_600,c_limit", [2]int{300, 200}, [2]int{300, 200}},
		{1200, 800, "w_600,h_600,c_limit", [2]int{600, 400}, [2]int{600, 400}},
		{300, 200, "w_600,h_600,c_mfit", [2]int{600, 400}, [2]int{600, 400}},
		{1200, 800, "w_600,h_600,c_mfit", [2]int{1200, 800}, [2]int{1200, 800}},
		{1200, 800, "c_fill,w_200,h_200", [2]int{200, 200}, [2]int{300, 200}},
		{300, 200, "c_fill,w_600,h_600", [2]int{600, 600}, [2]int{900, 600}},
		{400, 200, "c_lfill,w_800,h_100", [2]int{400, 100}, [2]int{400, 200}}, // observed on Cloudinary
		{1200, 800, "c_lfill,w_200,h_200", [2]int{200, 200}, [2]int{300, 200}},
		{1200, 800, "c_pad,w_300,h_300", [2]int{300, 300}, [2]int{300, 200}},
		{300, 200, "c_pad,w_600,h_600", [2]int{600, 600}, [2]int{600, 400}},
		{300, 200, "c_lpad,w_600,h_600", [2]int{600, 600}, [2]int{300, 200}},
		{1200, 800, "c_crop,w_100,h_50", [2]int{100, 50}, [2]int{1200, 800}},
		{1200, 800, "c_crop,w_2000,h_50", [2]int{1200, 50}, [2]int{1200, 800}},
		{300, 200, "c_thumb,w_600,h_100", [2]int{300, 100}, [2]int{300, 200}},
		{1200, 800, "w_300,dpr_2", [2]int{600, 400}, [2]int{600, 400}},
		{1200, 800, "dpr_0.5", [2]int{600, 400}, [2]int{600, 400}},
		{1200, 800, "w_400,ar_1:1,c_fill", [2]int{400, 400}, [2]int{600, 400}},
		{1200, 800, "ar_1:1,c_fill", [2]int{800, 800}, [2]int{1200, 800}},
		{1200, 800, "ar_16:9,c_crop", [2]int{1200, 675}, [2]int{1200, 800}},
		{1200, 800, "e_blur", [2]int{1200, 800}, [2]int{1200, 800}},
	}
	for _, c := range cases {
		g, err := plan(c.inW, c.inH, comp(t, c.tx), 25e6, image.Rectangle{})
		if err != nil {
			t.Errorf("%dx%d %s: %v", c.inW, c.inH, c.tx, err)
			continue
		}
		ow, oh := g.Out()
		if [2]int{ow, oh} != c.out || [2]int{g.ResizeW, g.ResizeH} != c.resize {
			t.Errorf("%dx%d %s: resize %dx%d out %dx%d, want resize %v out %v",
				c.inW, c.inH, c.tx, g.ResizeW, g.ResizeH, ow, oh, c.resize, c.out)
		}
	}
}

func TestPlanPlacement(t *testing.T) {
	check := func(tx string, want geometry) {
		t.Helper()
		g, err := plan(1200, 800, comp(t, tx), 25e6, image.Rectangle{})
		if err != nil {
			t.Fatal(err)
		}
		if g != want {
			t.Errorf("%s:\n got %+v\nwant %+v", tx, g, want)
		}
	}
	check("c_fill,w_200,h_200,g_west", geometry{ResizeW: 300, ResizeH: 200, Crop: true, CropW: 200, CropH: 200})
	check("c_fill,w_200,h_200", geometry{ResizeW: 300, ResizeH: 200, Crop: true, CropX: 50, CropW: 200, CropH: 200})
	check("c_fill,w_200,h_200,g_east", geometry{ResizeW: 300, ResizeH: 200, Crop: true, CropX: 100, CropW: 200, CropH: 200})
	check("c_pad,w_300,h_300,g_north", geometry{ResizeW: 300, ResizeH: 200, Pad: true, PadX: 0, PadY: 0, PadW: 300, PadH: 300})
	check("c_pad,w_300,h_300", geometry{ResizeW: 300, ResizeH: 200, Pad: true, PadY: 50, PadW: 300, PadH: 300})
	check("c_crop,w_100,h_100,x_10,y_20,g_north_west", geometry{ResizeW: 1200, ResizeH: 800, Crop: true, CropX: 10, CropY: 20, CropW: 100, CropH: 100})
	check("c_crop,w_100,h_100,x_10,y_20,g_south_east", geometry{ResizeW: 1200, ResizeH: 800, Crop: true, CropX: 1090, CropY: 680, CropW: 100, CropH: 100})
	check("c_crop,w_100,h_100,x_600,y_400,g_xy_center", geometry{ResizeW: 1200, ResizeH: 800, Crop: true, CropX: 550, CropY: 350, CropW: 100, CropH: 100})
	check("c_crop,w_100,h_100,x_5000,g_north_west", geometry{ResizeW: 1200, ResizeH: 800, Crop: true, CropX: 1100, CropW: 100, CropH: 100})
	check("c_fill,g_auto,w_200,h_200", geometry{ResizeW: 300, ResizeH: 200, Crop: true, Smart: true, CropX: 50, CropW: 200, CropH: 200})
}

func TestPlanTooLarge(t *testing.T) {
	if _, err := plan(1200, 800, comp(t, "w_10000,h_10000,c_scale"), 25e6, image.Rectangle{}); err == nil {
		t.Error("a 100 MP output was accepted")
	}
}

func TestPlanNewModes(t *testing.T) {
	none := image.Rectangle{}
	face := image.Rect(800, 100, 900, 220) // a 100×120 face near the top right of 1200×800
	cases := []struct {
		inW, inH int
		tx       string
		focus    image.Rectangle
		out      [2]int
		check    func(g geometry) bool
	}{
		// fill_pad keeps at least 80%: 1200×800 into 200×400 would keep a third.
		{1200, 800, "c_fill_pad,g_auto,w_200,h_400", none, [2]int{200, 400}, func(g geometry) bool {
			return g.Crop && g.Pad && g.CropW == 200 && g.CropH == 167 && g.PadY > 0
		}},
		// A small change of aspect is a plain fill.
		{1200, 800, "c_fill_pad,g_auto,w_300,h_220", none, [2]int{300, 220}, func(g geometry) bool { return g.Crop && !g.Pad }},
		{300, 200, "c_mpad,w_600,h_600", none, [2]int{600, 600}, func(g geometry) bool { return g.ResizeW == 600 && g.Pad }},
		{1200, 800, "c_mpad,w_600,h_600", none, [2]int{1200, 800}, func(g geometry) bool { return g.ResizeW == 1200 && !g.Crop }},
		{1200, 800, "c_auto,w_200,h_200", none, [2]int{200, 200}, func(g geometry) bool { return g.Smart }},
		{1200, 800, "c_fill,g_auto,w_200,h_200", none, [2]int{200, 200}, func(g geometry) bool { return g.Smart }},
		// Face fill: the crop covers the face's centre (850, 160) scaled by 1/4.
		{1200, 800, "c_fill,g_face,w_100,h_200", face, [2]int{100, 200}, func(g geometry) bool {
			cx := 850 * g.ResizeW / 1200
			return g.CropX <= cx && cx < g.CropX+g.CropW
		}},
		// No face found: centre.
		{1200, 800, "c_fill,g_face,w_100,h_200", none, [2]int{100, 200}, func(g geometry) bool {
			return g.CropX == (g.ResizeW-100)/2
		}},
		// Thumb on a face: a 2x context box of 200×240 at aspect 1 → 240×240 → scaled to 120.
		{1200, 800, "c_thumb,g_face,w_120,h_120", face, [2]int{120, 120}, func(g geometry) bool {
			s := float64(g.ResizeW) / 1200
			fx0, fx1 := int(800*s), int(900*s)
			return g.ResizeW == 600 && g.CropX <= fx0 && fx1 <= g.CropX+g.CropW
		}},
		// Zoom 2 halves the context: the face fills the thumbnail.
		{1200, 800, "c_thumb,g_face,w_120,h_120,z_2", face, [2]int{120, 120}, func(g geometry) bool { return g.ResizeW == 1200 }},
		// Thumb never upscales: a 600 px thumb of a small face takes more context.
		{1200, 800, "c_thumb,g_face,w_600,h_600", face, [2]int{600, 600}, func(g geometry) bool { return g.ResizeW == 1200 }},
		// Crop on a face with no size: the face with context, centred.
		{1200, 800, "c_crop,g_face", face, [2]int{200, 240}, func(g geometry) bool { return g.CropX == 750 && g.CropY == 40 }},
		{1200, 800, "c_crop,g_faces,w_100,h_100", face, [2]int{100, 100}, func(g geometry) bool { return g.CropX == 800 && g.CropY == 110 }},
	}
	for _, c := range cases {
		g, err := plan(c.inW, c.inH, comp(t, c.tx), 25e6, c.focus)
		if err != nil {
			t.Errorf("%s: %v", c.tx, err)
			continue
		}
		if w, h := g.Out(); w != c.out[0] || h != c.out[1] {
			t.Errorf("%dx%d %s: out %dx%d, want %v (%+v)", c.inW, c.inH, c.tx, w, h, c.out, g)
			continue
		}
		if !c.check(g) {
			t.Errorf("%dx%d %s: geometry %+v fails its check", c.inW, c.inH, c.tx, g)
		}
	}
}
