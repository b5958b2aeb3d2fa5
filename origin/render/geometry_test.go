package render

import (
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
		g, err := plan(c.inW, c.inH, comp(t, c.tx), 25e6)
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
		g, err := plan(1200, 800, comp(t, tx), 25e6)
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
	if _, err := plan(1200, 800, comp(t, "w_10000,h_10000,c_scale"), 25e6); err == nil {
		t.Error("a 100 MP output was accepted")
	}
}
