package face

import (
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"

	pigo "github.com/esimov/pigo/core"
)

// The astronaut photo (testdata/README.md) is 512×512 with one face. Its
// box, measured once with Detect on the photo as decoded here: X=167 Y=55
// W=H=114, centred on (224, 112); the face itself spans about x 175-275,
// y 70-185. At 96, 128 and 256 px the box scales along to within 2 px.
const (
	astroCX, astroCY = 224, 112
	centreTol        = 12 // pixels at 512 px
	minSide, maxSide = 80, 150
)

func astronaut(t testing.TB) ([]byte, int, int) {
	t.Helper()
	f, err := os.Open("testdata/astronaut.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return toGray(img)
}

func toGray(img image.Image) ([]byte, int, int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	g := make([]byte, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g[y*w+x] = color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
		}
	}
	return g, w, h
}

func detector(t testing.TB) *Detector {
	t.Helper()
	d, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkFace asserts r is the astronaut's face on an image scaled by k
// from 512 px and shifted by dx.
func checkFace(t *testing.T, r Rect, k float64, dx int) {
	t.Helper()
	cx, cy := float64(r.X)+float64(r.W)/2, float64(r.Y)+float64(r.H)/2
	wx, wy := float64(astroCX)*k+float64(dx), float64(astroCY)*k
	tol := centreTol * k
	if cx < wx-tol || cx > wx+tol || cy < wy-tol || cy > wy+tol {
		t.Errorf("face %+v: centre (%.0f, %.0f), want (%.0f, %.0f) ± %.0f", r, cx, cy, wx, wy, tol)
	}
	if lo, hi := minSide*k, maxSide*k; float64(r.W) < lo || float64(r.W) > hi || float64(r.H) < lo || float64(r.H) > hi {
		t.Errorf("face %+v: size outside [%.0f, %.0f]", r, lo, hi)
	}
}

func TestDetectAstronaut(t *testing.T) {
	g, w, h := astronaut(t)
	faces := detector(t).Detect(g, w, h)
	if len(faces) != 1 {
		t.Fatalf("Detect: %d faces %+v, want 1", len(faces), faces)
	}
	checkFace(t, faces[0], 1, 0)
}

// Smaller copies of the photo: the face must be found down to about
// 2*MinFace px, with the box scaled along.
func TestDetectAstronautSmall(t *testing.T) {
	g, w, h := astronaut(t)
	d := detector(t)
	for _, side := range []int{128, 256} {
		s, sw, sh := reduce(g, w, h, side)
		faces := d.Detect(s, sw, sh)
		if len(faces) != 1 {
			t.Errorf("%d px: %d faces %+v, want 1", side, len(faces), faces)
			continue
		}
		checkFace(t, faces[0], float64(side)/512, 0)
	}
}

// Two copies side by side: two faces, and a 1024 px wide input exercises
// the reduction to MaxSide and the scaling back.
func TestDetectTwoFaces(t *testing.T) {
	g, w, h := astronaut(t)
	two := make([]byte, 2*w*h)
	for y := 0; y < h; y++ {
		copy(two[y*2*w:], g[y*w:y*w+w])
		copy(two[y*2*w+w:], g[y*w:y*w+w])
	}
	faces := detector(t).Detect(two, 2*w, h)
	if len(faces) != 2 {
		t.Fatalf("Detect: %d faces %+v, want 2", len(faces), faces)
	}
	if faces[0].W*faces[0].H < faces[1].W*faces[1].H {
		t.Errorf("not largest first: %+v", faces)
	}
	left, right := faces[0], faces[1]
	if left.X > right.X {
		left, right = right, left
	}
	checkFace(t, left, 1, 0)
	checkFace(t, right, 1, w)
	u := Union(faces)
	if u.X != left.X || u.X+u.W != right.X+right.W || u.Y != min(left.Y, right.Y) {
		t.Errorf("Union(%+v) = %+v", faces, u)
	}
}

// An input four times MaxSide is reduced before the scan; the box comes
// back in the input's coordinates.
func TestDetectLargeInput(t *testing.T) {
	g, w, h := astronaut(t)
	const k = 4
	big := make([]byte, k*w*k*h)
	for y := 0; y < k*h; y++ {
		for x := 0; x < k*w; x++ {
			big[y*k*w+x] = g[(y/k)*w+x/k]
		}
	}
	faces := detector(t).Detect(big, k*w, k*h)
	if len(faces) != 1 {
		t.Fatalf("Detect: %d faces %+v, want 1", len(faces), faces)
	}
	checkFace(t, faces[0], k, 0)
}

func TestDetectNoFaces(t *testing.T) {
	d := detector(t)
	blank := make([]byte, 512*512)
	for i := range blank {
		blank[i] = 128
	}
	if faces := d.Detect(blank, 512, 512); len(faces) != 0 {
		t.Errorf("blank: %+v", faces)
	}
	r := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 640*360)
	for i := range noise {
		noise[i] = byte(r.IntN(256))
	}
	if faces := d.Detect(noise, 640, 360); len(faces) != 0 {
		t.Errorf("noise: %+v", faces)
	}
	// Bars: strong edges but no face.
	bars := make([]byte, 512*512)
	for i := range bars {
		if (i%512/16)%2 == 0 {
			bars[i] = 255
		}
	}
	if faces := d.Detect(bars, 512, 512); len(faces) != 0 {
		t.Errorf("bars: %+v", faces)
	}
}

func TestDetectDegenerate(t *testing.T) {
	d := detector(t)
	cases := []struct {
		name string
		g    []byte
		w, h int
	}{
		{"nil", nil, 0, 0},
		{"zero width", make([]byte, 10), 0, 10},
		{"zero height", make([]byte, 10), 10, 0},
		{"negative", make([]byte, 10), -5, -2},
		{"1x1", []byte{7}, 1, 1},
		{"1xN", make([]byte, 2000), 1, 2000},
		{"Nx1", make([]byte, 2000), 2000, 1},
		{"below MinFace", make([]byte, 19*19), 19, 19},
		{"exactly MinFace", make([]byte, 20*20), 20, 20},
		{"short buffer", make([]byte, 100), 100, 100},
		{"overflowing size", make([]byte, 100), 1 << 40, 1 << 40},
		{"huge strip", make([]byte, 100000), 100000, 1},
	}
	for _, c := range cases {
		if faces := d.Detect(c.g, c.w, c.h); len(faces) != 0 {
			t.Errorf("%s: %+v", c.name, faces)
		}
	}
	var nilDet *Detector
	if faces := nilDet.Detect([]byte{1}, 1, 1); faces != nil {
		t.Errorf("nil detector: %+v", faces)
	}
}

// Extra bytes past w*h (a padded buffer) are ignored.
func TestDetectLongBuffer(t *testing.T) {
	g, w, h := astronaut(t)
	s, sw, sh := reduce(g, w, h, 128)
	faces := detector(t).Detect(append(s, make([]byte, 999)...), sw, sh)
	if len(faces) != 1 {
		t.Fatalf("Detect: %d faces, want 1", len(faces))
	}
	checkFace(t, faces[0], 0.25, 0)
}

func TestDetectConcurrent(t *testing.T) {
	g, w, h := astronaut(t)
	d := detector(t)
	want := d.Detect(g, w, h)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			got := d.Detect(g, w, h)
			if len(got) != len(want) || (len(got) > 0 && got[0] != want[0]) {
				t.Errorf("concurrent Detect = %+v, want %+v", got, want)
			}
		})
	}
	wg.Wait()
}

func TestFaceBadCascade(t *testing.T) {
	for _, b := range [][]byte{nil, make([]byte, 12), facefinder[:1000], facefinder[:len(facefinder)-1]} {
		if d, err := newDetector(b); err == nil || d != nil {
			t.Errorf("newDetector(%d bytes) = %v, %v; want an error", len(b), d, err)
		}
	}
}

func TestDetectPick(t *testing.T) {
	det := func(row, col, size int, q float32) pigo.Detection {
		return pigo.Detection{Row: row, Col: col, Scale: size, Q: q}
	}
	got := pick([]pigo.Detection{
		det(100, 100, 40, 30),  // small, strong
		det(300, 300, 100, 20), // large, weaker
		det(310, 305, 60, 50),  // nested in the large one, stronger: wins
		det(50, 400, 80, 13),   // below minQuality
		det(5, 5, 30, 40),      // sticks out top-left: clamped
	}, 400, 400)
	want := []Rect{{275, 280, 60, 60}, {80, 80, 40, 40}, {0, 0, 20, 20}}
	if !slices.Equal(got, want) {
		t.Errorf("pick = %+v, want %+v", got, want)
	}

	var many []pigo.Detection
	for i := range 100 {
		many = append(many, det(20+40*(i/10), 20+40*(i%10), 30, float32(20+i)))
	}
	got = pick(many, 400, 400)
	if len(got) != MaxFaces {
		t.Fatalf("pick of 100: %d boxes, want %d", len(got), MaxFaces)
	}
	// The 64 strongest (i >= 36: rows 3 to 9) are kept.
	for _, r := range got {
		if r.Y+15 < 20+40*3 {
			t.Errorf("kept a weak box %+v", r)
		}
	}
	if pick(nil, 10, 10) == nil {
		t.Error("pick(nil) = nil, want empty")
	}
}

func TestFaceUnion(t *testing.T) {
	if u := Union(nil); u != (Rect{}) {
		t.Errorf("Union(nil) = %+v", u)
	}
	rs := []Rect{{10, 20, 5, 5}, {0, 30, 4, 10}, {12, 0, 1, 1}}
	if u, want := Union(rs), (Rect{0, 0, 15, 40}); u != want {
		t.Errorf("Union = %+v, want %+v", u, want)
	}
	if u := Union(rs[:1]); u != rs[0] {
		t.Errorf("Union of one = %+v", u)
	}
}

func TestDetectReduce(t *testing.T) {
	g := make([]byte, 1000*10)
	for i := range g {
		g[i] = byte(i % 1000 / 4)
	}
	s, sw, sh := reduce(g, 1000, 10, 100)
	if sw != 100 || sh != 1 || len(s) != 100 {
		t.Fatalf("reduce 1000x10 to 100: %dx%d, %d bytes", sw, sh, len(s))
	}
	if s[0] != 1 || s[99] != 248 { // means of 0..2 (0,0,0,0,1,1,1,1,2,2) and 247..249
		t.Errorf("reduce: first %d last %d", s[0], s[99])
	}
}

func TestFaceScaleClamps(t *testing.T) {
	if r := (Rect{10, 10, 20, 20}).Scale(2.5, 2.5, 60, 60); r != (Rect{25, 25, 35, 35}) {
		t.Errorf("scale = %+v", r)
	}
	if r := (Rect{0, 0, 10, 10}).Scale(1.5, 1.5, 12, 8); r != (Rect{0, 0, 12, 8}) {
		t.Errorf("scale clamped = %+v", r)
	}
	if r := (Rect{50, 50, 5, 5}).Scale(2, 2, 40, 40); r != (Rect{39, 39, 1, 1}) {
		t.Errorf("scale outside = %+v", r)
	}
}

// BenchmarkDetect times one 512×512 photo, the size render scans.
func BenchmarkDetect(b *testing.B) {
	g, w, h := astronaut(b)
	d := detector(b)
	b.ReportAllocs()
	for b.Loop() {
		d.Detect(g, w, h)
	}
}
