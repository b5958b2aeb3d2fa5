package transform

import (
	"testing"

	"github.com/refract-cdn/refract/shared/clderr"
)

// TestEveryParameter parses one example of each value form and checks the
// canonical form and that it round-trips.
func TestEveryParameter(t *testing.T) {
	cases := []struct{ in, want string }{
		{"c_fill_pad,g_auto,w_100,h_100", "c_fill_pad,g_auto,h_100,w_100"},
		{"c_mpad,w_100", "c_mpad,w_100"},
		{"c_auto,g_auto,ar_1", "ar_1,c_auto,g_auto"},
		{"c_thumb,g_face,w_80", "c_thumb,g_face,w_80"},
		{"c_fill,g_faces,w_80,h_80", "c_fill,g_faces,h_80,w_80"},
		{"z_1.5", "z_1.5"},
		{"dpr_auto", "dpr_auto"},
		{"r_max", "r_max"},
		{"r_20", "r_20"},
		{"r_20:0:10:5.5", "r_20:0:10:5.5"},
		{"o_0", "o_0"},
		{"bo_4px_solid_black", "bo_4px_solid_rgb:000000"},
		{"bo_2px_solid_rgb:ff000080", "bo_2px_solid_rgb:ff000080"},
		{"co_blue,e_colorize", "co_rgb:0000ff,e_colorize:100"},
		{"b_auto", "b_auto"},
		{"b_auto:border", "b_auto"},
		{"b_auto:predominant", "b_auto:predominant"},
		{"b_blurred", "b_blurred:100"},
		{"b_blurred:400:15", "b_blurred:400:15"},
		{"a_auto_right", "a_auto_right"},
		{"a_auto_left.hflip", "a_auto_left.hflip"},
		{"pg_2", "pg_2"},
		{"dn_300", "dn_300"},
		{"d_docs:placeholders:avatar.png", "d_docs:placeholders:avatar.png"},
		{"t_thumb.small", "t_thumb.small"},
		{"l_docs:logo,w_100", "l_docs:logo,w_100"},
		{"u_bg", "u_bg"},
		{"l_text:Arial_40_bold:Hello%20World", "l_text:Arial_40_bold:Hello%20World"},
		{"fl_attachment:my_file", "fl_attachment:my_file"},
		{"fl_attachment", "fl_attachment"},
		{"fl_layer_apply.relative,g_north_east,x_10", "fl_layer_apply.relative,g_north_east,x_10"},
		{"fl_png8.lossy.keep_iptc.strip_profile", "fl_keep_iptc.lossy.png8.strip_profile"},
		{"fl_getinfo", "fl_getinfo"},
		{"fl_immutable_cache", "fl_immutable_cache"},
		{"fl_awebp.animated", "fl_animated.awebp"},
		{"e_sepia", "e_sepia:80"},
		{"e_sepia:50", "e_sepia:50"},
		{"e_brightness:-30", "e_brightness:-30"},
		{"e_contrast", "e_contrast:0"},
		{"e_saturation:-100", "e_saturation:-100"},
		{"e_gamma:50", "e_gamma:50"},
		{"e_negate", "e_negate"},
		{"e_unsharp_mask:300", "e_unsharp_mask:300"},
		{"e_improve", "e_improve:outdoor:100"},
		{"e_improve:indoor:50", "e_improve:indoor:50"},
		{"e_improve:30", "e_improve:outdoor:30"},
		{"e_auto_contrast", "e_auto_contrast:100"},
		{"e_auto_brightness:40", "e_auto_brightness:40"},
		{"e_auto_color", "e_auto_color:100"},
		{"e_pixelate", "e_pixelate"},
		{"e_pixelate:20", "e_pixelate:20"},
		{"e_pixelate_faces:10", "e_pixelate_faces:10"},
		{"e_blur_faces", "e_blur_faces:500"},
		{"e_trim", "e_trim:10"},
		{"e_trim:20:white", "e_trim:20:rgb:ffffff"},
		{"e_trim:20:rgb:ff0000", "e_trim:20:rgb:ff0000"},
		{"e_vignette:50", "e_vignette:50"},
		{"e_shadow:60,x_5,y_5,co_gray", "co_rgb:808080,e_shadow:60,x_5,y_5"},
		{"e_outline", "e_outline:outer:5:0"},
		{"e_outline:inner_fill:10:200", "e_outline:inner_fill:10:200"},
		{"e_outline:8", "e_outline:outer:8:0"},
		{"$w_200", "$w_200"},
		{"$half_iw_div_2,w_$half", "$half_iw_div_2,w_$half"},
		{"w_iw_mul_0.5,h_ih_sub_10", "h_ih_sub_10,w_iw_mul_0.5"},
		{"$name_!sale!", "$name_!sale!"},
		{"if_w_gt_300,c_scale,w_300", "if_w_gt_300,c_scale,w_300"},
		{"if_ar_lt_1.0_and_iw_gte_$min", "if_ar_lt_1.0_and_iw_gte_$min"},
		{"if_else", "if_else"},
		{"if_end", "if_end"},
	}
	for _, tc := range cases {
		expectCanonical(t, tc.in, tc.want)
	}
}

func TestNewParameterErrors(t *testing.T) {
	cases := map[string]string{
		"c_imagga_crop":              "crop mode imagga_crop is not supported yet",
		"e_cartoonify":               "Effect cartoonify is not supported yet",
		"fl_tiled":                   "Flag tiled is not supported yet",
		"l_fetch:aHR0cA==":           "Layers of type fetch are not supported yet",
		"z_0":                        "Invalid zoom - 0",
		"z_101":                      "Invalid zoom - 101",
		"o_101":                      "Invalid opacity - 101",
		"o_-1":                       "Invalid opacity - -1",
		"r_1:2:3:4:5":                "Invalid radius - 1:2:3:4:5",
		"r_round":                    "Invalid radius - round",
		"bo_4px_dashed_red":          "Invalid border - 4px_dashed_red",
		"bo_0px_solid_red":           "Invalid border - 0px_solid_red",
		"co_nocolour":                "Invalid color - nocolour",
		"e_brightness:-100":          "Invalid effect - brightness:-100",
		"e_outline:sideways":         "Invalid effect - outline:sideways",
		"e_outline:outer:5:5:5":      "Invalid effect - outline:outer:5:5:5",
		"e_improve:indoor:outdoor":   "Invalid effect - improve:indoor:outdoor",
		"e_trim:10:notacolour":       "Invalid effect - trim:10:notacolour",
		"pg_0":                       "Invalid page - 0",
		"dn_0":                       "Invalid density - 0",
		"dn_5000":                    "Invalid density - 5000",
		"d_noext":                    "Invalid default image - noext",
		"d_a:..:b.png":               "Invalid default image - a:..:b.png",
		"$big_iw_gt_1000":            "Invalid assignment to $big: iw_gt_1000",
		"t_bad name":                 "Invalid named transformation - bad name",
		"l_a::b":                     "Invalid overlay - a::b",
		"l_text:Arial:hi":            "Invalid overlay - text:Arial:hi",
		"l_text:Arial_40:":           "Invalid overlay - text:Arial_40:",
		"l_text:Arial_0:x":           "Invalid overlay - text:Arial_0:x",
		"u_text:Arial_9999:x":        "Invalid underlay - text:Arial_9999:x",
		"l_a,u_b":                    "Invalid transformation component - an overlay and an underlay in one component",
		"fl_attachment:a.b":          "Invalid flag - attachment:a.b",
		"fl_attachment:":             "Invalid flag - attachment:",
		"$1x_10":                     "Invalid assignment to $1x: 10",
		"$x_iw_plus_2":               "Invalid assignment to $x: iw_plus_2",
		"w_iw_div":                   "Invalid width - iw_div",
		"w_$":                        "Invalid width - $",
		"if_w_bigger_300":            "Invalid condition - w_bigger_300",
		"if_w_gt":                    "Invalid condition - w_gt",
		"if_w_gt_3_and":              "Invalid condition - w_gt_3_and",
		"if_end,w_100":               "if_else and if_end must stand alone in their component",
		"g_auto,c_pad,w_10,h_10":     "Use auto gravity only with crop, fill, lfill, fill_pad or thumb",
		"$a_1,$b_2,$c_3,$d_4,$e_5":   "Too many variables in one component (at most 4)",
		"w_$a,h_$a,x_$a,y_$a,z_$a":   "Too many expressions in one component (at most 4)",
		"dpr_automatic":              "Invalid dpr - automatic",
		"l_a/l_b/l_c/l_d/l_e/l_f":    "Too many layers (at most 5)",
		"b_blurred:0":                "Invalid background - blurred:0",
		"b_blurred:100:200":          "Invalid background - blurred:100:200",
		"fl_progressive.nonexistent": "Invalid flag - progressive.nonexistent",
	}
	for in, want := range cases {
		expectError(t, in, want)
	}
}

func TestEval(t *testing.T) {
	env := &Env{W: 800, H: 600, IW: 1600, IH: 1200, Pages: 3}
	env.Set(Value{Name: "half", Num: 0.5})
	env.Set(Value{Name: "label", Str: "x", IsStr: true})
	cases := map[string]float64{
		"iw_div_2":            800,
		"iw_mul_$half":        800,
		"w_add_h_mul_2":       2000, // mul first
		"2_pow_3_mul_2":       16,   // pow first
		"10_sub_4_sub_3":      3,    // left to right
		"ih_mod_500":          200,
		"ar":                  800.0 / 600,
		"iar_mul_3":           4,
		"pc_add_1":            4,
		"-5_add_w":            795,
		"$half_add_$half":     1,
		"iw_div_3_mul_3":      1600,
		"w_sub_100_div_2_add": -1, // invalid: trailing operator
	}
	for expr, want := range cases {
		got, err := Eval(expr, env)
		if want == -1 {
			if err == nil {
				t.Errorf("Eval(%q) = %v, want an error", expr, got)
			}
			continue
		}
		if err != nil || abs(got-want) > 1e-9 {
			t.Errorf("Eval(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, bad := range []string{"$nope_add_1", "w_div_0", "$label_add_1", "10_pow_100"} {
		if _, err := Eval(bad, env); err == nil || clderr.Status(err) != 400 {
			t.Errorf("Eval(%q) = %v, want a 400", bad, err)
		}
	}
	conds := map[string]bool{
		"w_gt_300":                        true,
		"w_lt_300":                        false,
		"w_eq_800_and_h_eq_600":           true,
		"w_eq_1_or_h_eq_600":              true,
		"w_eq_1_or_h_eq_1":                false,
		"w_eq_800_and_h_eq_1_or_pc_gte_3": true, // (a and b) or c
		"w_eq_1_and_h_eq_600_or_pc_lt_3":  false,
		"ar_gt_1_and_iw_ne_$half":         true,
		"w_lte_800_and_h_gte_600":         true,
	}
	for expr, want := range conds {
		c, ok := parseCond(expr)
		if !ok {
			t.Errorf("parseCond(%q) refused", expr)
			continue
		}
		got, err := EvalCond(c.Expr, env)
		if err != nil || got != want {
			t.Errorf("EvalCond(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
}

func TestResolve(t *testing.T) {
	var ch Chain
	if err := Parse("$w_333.33333,w_$w_add_0.1,h_ih_div_3,c_fill", &ch); err != nil {
		t.Fatal(err)
	}
	c := ch.Components[0]
	env := &Env{IW: 1000, IH: 1000, W: 1000, H: 1000}
	for i := 0; i < int(c.NVars); i++ {
		v, err := EvalVar(c.Vars[i], env)
		if err != nil {
			t.Fatal(err)
		}
		env.Set(v)
	}
	if err := c.Resolve(env); err != nil {
		t.Fatal(err)
	}
	if c.Width.V != 333.4333 || c.Height.V != 333.3333 || c.Width.Rel {
		t.Errorf("resolved w=%+v h=%+v", c.Width, c.Height)
	}
	// A negative result is that parameter's error.
	if err := Parse("w_iw_sub_2000", &ch); err != nil {
		t.Fatal(err)
	}
	c = ch.Components[0]
	if err := c.Resolve(env); err == nil || clderr.Status(err) != 400 {
		t.Errorf("negative width resolved: %v", err)
	}
}

func TestRadiusCorners(t *testing.T) {
	for in, want := range map[string][4]float64{
		"10":       {10, 10, 10, 10},
		"10:20":    {10, 20, 10, 20},
		"10:20:30": {10, 20, 30, 20},
		"1:2:3:4":  {1, 2, 3, 4},
	} {
		r, ok := parseRadius(in)
		if !ok || r.Corners() != want {
			t.Errorf("parseRadius(%q).Corners() = %v, want %v", in, r.Corners(), want)
		}
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
