package upload

import (
	"reflect"
	"testing"

	"github.com/refract-cdn/refract/shared/clderr"
)

func TestParseEager(t *testing.T) {
	got, err := ParseEager("w_400,h_300,c_pad|w_260,h_200,c_crop/png| webp |c_fill,w_100/jpeg")
	if err != nil {
		t.Fatal(err)
	}
	want := []Eager{{Tx: "c_pad,h_300,w_400"}, {Tx: "c_crop,h_200,w_260", Format: "png"}, {Format: "webp"}, {Tx: "c_fill,w_100", Format: "jpeg"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseEager = %+v, want %+v", got, want)
	}
	if got[1].String() != "c_crop,h_200,w_260/png" || got[2].String() != "webp" {
		t.Errorf("String: %q %q", got[1].String(), got[2].String())
	}
	for _, bad := range []string{"w_abc", "w_100/bmpx", "nonsense", "w_100|c_foo"} {
		if _, err := ParseEager(bad); err == nil || clderr.Status(err) != 400 {
			t.Errorf("ParseEager(%q) = %v, want a 400", bad, err)
		}
	}
	many := "w_1"
	for i := 0; i < maxEager; i++ {
		many += "|w_1"
	}
	if _, err := ParseEager(many); err == nil {
		t.Error("too many eager transformations were accepted")
	}
}

func TestParseContext(t *testing.T) {
	got, err := parseContext(`alt=A \= sign|caption=one\|two|empty=|flag|eq=a=b`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"alt": "A = sign", "caption": "one|two", "empty": "", "flag": "", "eq": "a=b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseContext = %q, want %q", got, want)
	}
	for _, bad := range []string{"=x", "|=|"} {
		if _, err := parseContext(bad); err == nil {
			t.Errorf("parseContext(%q) succeeded", bad)
		}
	}
}
