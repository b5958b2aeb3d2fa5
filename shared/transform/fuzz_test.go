package transform

import (
	"strings"
	"testing"
)

// FuzzParse checks that any input either fails with a 400 or yields a
// canonical form that parses back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"w_300,c_scale", "c_fill,g_auto,h_200,w_200", "e_blur:300/q_auto:eco",
		"ar_16:9,b_rgb:ff0000aa,a_hflip.90", "fl_progressive,f_auto,dpr_2.0",
		"x_-0.5,y_10,c_crop,w_0.5", "w_1.0/h_.5", "l_text:Arial_20:hi",
		"$w_200,if_iw_gt_400,w_$w_mul_2/if_else/if_end", "e_outline:inner:5:10,co_red",
		"l_docs:logo,w_0.2/fl_layer_apply.relative,g_south_east,x_10,o_50",
		"u_bg/fl_layer_apply", "r_10:20:5,bo_2px_solid_blue,z_1.5,t_thumb.x,d_a:b.png",
		"b_blurred:400:15,c_pad,w_100,h_100", "e_trim:20:rgb:ff0000/e_improve:indoor:50",
		"fl_attachment:name.getinfo,pg_2,dn_300,dpr_auto", "w_iw_div_2_add_$x,h_ih",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var ch Chain
		if err := Parse(s, &ch); err != nil {
			if err.Error() == "" {
				t.Fatalf("Parse(%q): empty error message", s)
			}
			return
		}
		canon := ch.String()
		var again Chain
		if err := Parse(canon, &again); err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form is not stable: %q -> %q", canon, again.String())
		}
	})
}

// looksLikeComponentRef is LooksLikeComponent as first written, with
// strings.Cut: the reference FuzzLooksLikeComponent holds it to.
func looksLikeComponentRef(seg string) bool {
	if seg == "" {
		return false
	}
	for rest := seg; ; {
		part, tail, more := strings.Cut(rest, ",")
		key, _, ok := strings.Cut(part, "_")
		if !ok || !KnownKey(key) {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

func FuzzLooksLikeComponent(f *testing.F) {
	for _, s := range []string{"w_300,c_scale", "w_300,", ",w_1", "_x", "w", "w_", "sample", "$v_1,w_$v", "e_blur:300_2,o_50", "a_b_c,d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seg string) {
		if got, want := LooksLikeComponent(seg), looksLikeComponentRef(seg); got != want {
			t.Fatalf("LooksLikeComponent(%q) = %v, the reference says %v", seg, got, want)
		}
	})
}
