package named

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadAndLookup(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.json")
	os.WriteFile(p, []byte(`{"*": {"thumb": "c_fill,w_100,h_100"}, "demo": {"thumb": "c_fit,w_50", "gray": "e_grayscale"}}`), 0o600)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cloud, name, want string }{
		{"demo", "thumb", "c_fit,w_50"}, {"other", "thumb", "c_fill,w_100,h_100"}, {"demo", "gray", "e_grayscale"},
	} {
		if got, ok := s.Lookup(c.cloud, c.name); !ok || got != c.want {
			t.Errorf("Lookup(%s, %s) = %q %v, want %q", c.cloud, c.name, got, ok, c.want)
		}
	}
	if _, ok := s.Lookup("other", "gray"); ok {
		t.Error("another cloud's transformation was visible")
	}
	var nilSet *Set
	if _, ok := nilSet.Lookup("demo", "thumb"); ok {
		t.Error("a nil set found something")
	}
}

func TestLoadRefusesBadTransformations(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.json")
	os.WriteFile(p, []byte(`{"*": {"bad": "w_abc"}}`), 0o600)
	if _, err := Load(p); err == nil {
		t.Error("an invalid transformation was accepted")
	}
	os.WriteFile(p, []byte(`{not json`), 0o600)
	if _, err := Load(p); err == nil {
		t.Error("invalid JSON was accepted")
	}
}
