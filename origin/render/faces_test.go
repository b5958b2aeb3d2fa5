package render

import (
	"bytes"
	"image"
	"math"
	"os"
	"testing"

	"github.com/refract-cdn/refract/origin/face"
	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/testimg"
)

// The 512×512 astronaut photo of origin/face/testdata has one face, boxed
// at about X=167 Y=55 W=H=114 (centre 224, 112).
const (
	facePhoto        = "../face/testdata/astronaut.jpg"
	astroCX, astroCY = 224, 112
	astroTol         = 12
	astroMin         = 80
	astroMax         = 150
)

func loadAstronaut(t *testing.T) *vips.Image {
	t.Helper()
	src, err := os.ReadFile(facePhoto)
	if err != nil {
		t.Fatal(err)
	}
	img, err := vips.NewJpegloadBuffer(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(img.Close)
	return img
}

func detectOK(t *testing.T, img *vips.Image) []face.Rect {
	t.Helper()
	rs, err := detectFaces(img)
	if err != nil {
		t.Fatalf("detectFaces: %v", err)
	}
	if rs == nil {
		t.Fatal("detectFaces: nil slice, want a non-nil one")
	}
	return rs
}

// nearAstronaut asserts r is the astronaut's face on the photo scaled by k.
func nearAstronaut(t *testing.T, r face.Rect, k float64) {
	t.Helper()
	cx, cy := float64(r.X)+float64(r.W)/2, float64(r.Y)+float64(r.H)/2
	wx, wy, tol := astroCX*k, astroCY*k, astroTol*k
	if cx < wx-tol || cx > wx+tol || cy < wy-tol || cy > wy+tol {
		t.Errorf("face %+v: centre (%.0f, %.0f), want (%.0f, %.0f) ± %.0f", r, cx, cy, wx, wy, tol)
	}
	if lo, hi := astroMin*k, astroMax*k; float64(r.W) < lo || float64(r.W) > hi || float64(r.H) < lo || float64(r.H) > hi {
		t.Errorf("face %+v: size outside [%.0f, %.0f]", r, lo, hi)
	}
}

func TestDetectFacesPhoto(t *testing.T) {
	img := loadAstronaut(t)
	before, err := img.WriteToMemory()
	if err != nil {
		t.Fatal(err)
	}
	w, h, bands, interp := img.Width(), img.Height(), img.Bands(), img.Interpretation()

	rs := detectOK(t, img)
	if len(rs) != 1 {
		t.Fatalf("detectFaces: %d faces %+v, want 1", len(rs), rs)
	}
	nearAstronaut(t, rs[0], 1)

	// The caller's image is untouched.
	if img.Width() != w || img.Height() != h || img.Bands() != bands || img.Interpretation() != interp {
		t.Errorf("image changed: %dx%d %d bands %v, was %dx%d %d bands %v",
			img.Width(), img.Height(), img.Bands(), img.Interpretation(), w, h, bands, interp)
	}
	after, err := img.WriteToMemory()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("image pixels changed")
	}
}

// At 1.3×, 2× and 3× the size the copy is reduced to 512 px for the scan
// (by a Lanczos reduce, a box shrink, and both), and the box must come
// back in full-resolution coordinates.
func TestDetectFacesScaledBack(t *testing.T) {
	ref := detectOK(t, loadAstronaut(t))
	if len(ref) != 1 {
		t.Fatalf("at 512 px: %+v", ref)
	}
	for _, k := range []float64{1.3, 2, 3} {
		img := loadAstronaut(t)
		if err := img.Resize(k, nil); err != nil {
			t.Fatal(err)
		}
		if want := int(512*k + 0.5); img.Width() != want {
			t.Fatalf("resized to %d px, want %d", img.Width(), want)
		}
		rs := detectOK(t, img)
		if len(rs) != 1 {
			t.Fatalf("%v×: %d faces %+v, want 1", k, len(rs), rs)
		}
		nearAstronaut(t, rs[0], k)
		// Against the 512 px result, to within a few scan pixels.
		r, want := rs[0], ref[0]
		tol := 3 * k
		off := func(got, ref int, tol float64) bool { return math.Abs(float64(got)-k*float64(ref)) > tol }
		if off(r.X, want.X, tol) || off(r.Y, want.Y, tol) || off(r.W, want.W, 2*tol) || off(r.H, want.H, 2*tol) {
			t.Errorf("%v×: box %+v, want about %v × %+v", k, r, k, want)
		}
	}
}

// Alpha is flattened onto white: an opaque alpha band changes nothing, a
// fully transparent one hides the face.
func TestDetectFacesAlpha(t *testing.T) {
	for _, c := range []struct {
		alpha float64
		want  int
	}{{255, 1}, {0, 0}} {
		img := loadAstronaut(t)
		if err := img.BandjoinConst([]float64{c.alpha}); err != nil {
			t.Fatal(err)
		}
		if !img.HasAlpha() {
			t.Fatal("no alpha after bandjoin")
		}
		rs := detectOK(t, img)
		if len(rs) != c.want {
			t.Fatalf("alpha %v: %d faces %+v, want %d", c.alpha, len(rs), rs, c.want)
		}
		if c.want == 1 {
			nearAstronaut(t, rs[0], 1)
		}
		if img.Bands() != 4 {
			t.Errorf("alpha %v: caller's image now has %d bands", c.alpha, img.Bands())
		}
	}
}

// Of an animation only the first frame is searched, in its own
// coordinates.
func TestDetectFacesFirstFrame(t *testing.T) {
	a, b := loadAstronaut(t), loadAstronaut(t)
	strip, err := vips.NewArrayjoin([]*vips.Image{a, b}, &vips.ArrayjoinOptions{Across: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer strip.Close()
	if strip.Width() != 512 || strip.Height() != 1024 {
		t.Fatalf("strip is %dx%d", strip.Width(), strip.Height())
	}
	if rs := detectOK(t, strip); len(rs) != 2 {
		t.Fatalf("one tall page: %d faces %+v, want 2", len(rs), rs)
	}
	if err := strip.SetPageHeight(512); err != nil {
		t.Fatal(err)
	}
	rs := detectOK(t, strip)
	if len(rs) != 1 {
		t.Fatalf("two frames: %d faces %+v, want 1", len(rs), rs)
	}
	nearAstronaut(t, rs[0], 1)
}

func TestDetectFacesNone(t *testing.T) {
	for _, src := range [][]byte{
		testimg.JPEG(testimg.Quadrants(1200, 800)),
		testimg.PNG(testimg.TransparentCircle(300, 200)),
		testimg.PNG(image.NewGray(image.Rect(0, 0, 1, 1))),
		testimg.PNG(uniformGray(5, 3000)),
	} {
		img, err := vips.NewImageFromBuffer(src, nil)
		if err != nil {
			t.Fatal(err)
		}
		rs := detectOK(t, img)
		if len(rs) != 0 {
			t.Errorf("%dx%d: %+v, want no faces", img.Width(), img.Height(), rs)
		}
		img.Close()
	}
}

func uniformGray(w, h int) image.Image {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	return img
}

// BenchmarkDetectFaces times detectFaces on a 2048×2048 photo held in
// memory: the grey reduction in libvips plus one 512 px scan.
func BenchmarkDetectFaces(b *testing.B) {
	src, err := os.ReadFile(facePhoto)
	if err != nil {
		b.Fatal(err)
	}
	img, err := vips.NewJpegloadBuffer(src, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer img.Close()
	if err := img.Resize(4, nil); err != nil {
		b.Fatal(err)
	}
	pix, err := img.WriteToMemory()
	if err != nil {
		b.Fatal(err)
	}
	big, err := vips.NewImageFromMemory(pix, img.Width(), img.Height(), img.Bands())
	if err != nil {
		b.Fatal(err)
	}
	defer big.Close()
	for b.Loop() {
		rs, err := detectFaces(big)
		if err != nil || len(rs) != 1 {
			b.Fatalf("detectFaces = %+v, %v", rs, err)
		}
	}
}
