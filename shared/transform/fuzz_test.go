package transform

import "testing"

// FuzzParse checks that any input either fails with a 400 or yields a
// canonical form that parses back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"w_300,c_scale", "c_fill,g_auto,h_200,w_200", "e_blur:300/q_auto:eco",
		"ar_16:9,b_rgb:ff0000aa,a_hflip.90", "fl_progressive,f_auto,dpr_2.0",
		"x_-0.5,y_10,c_crop,w_0.5", "w_1.0/h_.5", "l_text:Arial_20:hi",
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
