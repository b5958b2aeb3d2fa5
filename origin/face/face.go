// Package face finds upright frontal faces in 8-bit greyscale pixels. It
// backs Cloudinary's g_face, g_faces, e_pixelate_faces and e_blur_faces.
//
// Detection runs pigo (github.com/esimov/pigo, MIT), a pure Go
// implementation of pico's pixel-intensity-comparison cascades, with pico's
// "facefinder" cascade embedded in the binary (see cascade/NOTICE.md): nothing
// is read from disk at run time and the package does not use libvips.
//
// Contract of Detect:
//   - gray holds w*h bytes of luminance, row-major, one byte a pixel, no
//     padding. Extra bytes past w*h are ignored; a short slice, or w or h
//     below 1, gives no faces.
//   - Work is bounded: an input whose long side exceeds MaxSide is first
//     reduced (area average, in Go) to fit MaxSide, and the boxes are
//     scaled back, so the scan never looks at more than MaxSide*MaxSide
//     pixels. The reduction itself is one pass over the input. Callers that
//     can resize more cheaply (render does it in libvips) should hand in
//     images of at most MaxSide on the long side.
//     One 512×512 scan costs about 90 ms of one core.
//   - Faces smaller than about MinFace pixels on the (possibly reduced)
//     image are not found, nor are profiles; strongly tilted faces are
//     often missed (the scan is upright only).
//   - The result is sorted largest first and never holds more than
//     MaxFaces boxes; every box lies inside the image.
package face

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	pigo "github.com/esimov/pigo/core"
)

//go:embed cascade/facefinder
var facefinder []byte

// Rect is a face's box in pixel coordinates: X, Y is its top-left corner.
type Rect struct{ X, Y, W, H int }

// Limits and calibration. A cluster's quality is the sum of its raw hits'
// cascade scores, so it depends on the scan density set here. With these
// settings, on images scanned at 96 to 640 px: the astronaut photo in
// testdata scores 50-80 once its face is 28 px or larger and 16.3 at 22 px;
// face-free photos (cat, coffee, coins, bricks, grass, gravel, horse,
// moon, rocket, retina, motorbike, micrograph, Hubble field, text and logo
// from scikit-image's sample data) and noise stay at or below 11.4.
// minQuality sits between the two.
const (
	// MaxSide is the longest side scanned; larger inputs are reduced first.
	MaxSide = 640
	// MinFace is the smallest face side, in scanned pixels, looked for.
	MinFace = 20
	// MaxFaces caps the number of boxes returned.
	MaxFaces = 64

	// shiftFactor moves the window by 10% of its size; scaleFactor grows
	// it by 10% a step. Finer steps give more, steadier hits per face.
	shiftFactor = 0.1
	scaleFactor = 1.1
	// iou merges raw hits whose boxes overlap by more than this.
	iou = 0.2
	// minQuality is the least summed cascade score a cluster needs.
	minQuality = 14
	// maxRaw bounds the raw hits handed to the O(n*clusters) clustering;
	// beyond it only the strongest are kept.
	maxRaw = 8192
)

// Detector holds the unpacked cascade. It is immutable once built and safe
// for concurrent use.
type Detector struct {
	cascade *pigo.Pigo
}

// New unpacks the embedded cascade.
func New() (*Detector, error) {
	return newDetector(facefinder)
}

func newDetector(packed []byte) (d *Detector, err error) {
	// pigo's Unpack trusts its input; a damaged cascade must not panic.
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("face: bad cascade: %v", r)
		}
	}()
	// Header: 8 bytes pico ignores, tree depth, tree count; then per tree
	// 4*2^depth-4 bytes of codes, 2^depth float32 leaves and a float32
	// threshold.
	if len(packed) < 16 {
		return nil, errors.New("face: bad cascade: too short")
	}
	depth := binary.LittleEndian.Uint32(packed[8:])
	trees := uint64(binary.LittleEndian.Uint32(packed[12:]))
	if depth < 1 || depth > 16 || trees < 1 || trees > uint64(len(packed))/(8<<depth) || 16+trees*(8<<depth) > uint64(len(packed)) {
		return nil, errors.New("face: bad cascade: sizes do not match")
	}
	p, err := pigo.NewPigo().Unpack(packed)
	if err != nil {
		return nil, fmt.Errorf("face: bad cascade: %w", err)
	}
	return &Detector{cascade: p}, nil
}

// Detect returns the faces in gray (see the package doc for the contract),
// largest first.
func (d *Detector) Detect(gray []byte, w, h int) []Rect {
	if d == nil || d.cascade == nil || w < 1 || h < 1 || len(gray)/w < h {
		return nil
	}
	if w > MaxSide || h > MaxSide {
		small, sw, sh := reduce(gray, w, h, MaxSide)
		rs := d.detect(small, sw, sh)
		fx, fy := float64(w)/float64(sw), float64(h)/float64(sh)
		for i := range rs {
			rs[i] = rs[i].Scale(fx, fy, w, h)
		}
		return rs
	}
	return d.detect(gray[:w*h], w, h)
}

func (d *Detector) detect(gray []byte, w, h int) []Rect {
	maxSize := min(w, h)
	if maxSize < MinFace {
		return nil
	}
	dets := d.cascade.RunCascade(pigo.CascadeParams{
		MinSize:     MinFace,
		MaxSize:     maxSize,
		ShiftFactor: shiftFactor,
		ScaleFactor: scaleFactor,
		ImageParams: pigo.ImageParams{Pixels: gray, Rows: h, Cols: w, Dim: w},
	}, 0)
	if len(dets) > maxRaw {
		slices.SortFunc(dets, func(a, b pigo.Detection) int { return cmpFloat(b.Q, a.Q) })
		dets = dets[:maxRaw]
	}
	return pick(d.cascade.ClusterDetections(dets, iou), w, h)
}

// pick turns clusters into the answer: strong enough, clamped to w×h, no
// duplicates, at most MaxFaces, largest first.
func pick(dets []pigo.Detection, w, h int) []Rect {
	type cand struct {
		r Rect
		q float32
	}
	cs := make([]cand, 0, len(dets))
	for _, det := range dets {
		if det.Q < minQuality {
			continue
		}
		if r, ok := clamp(det.Col-det.Scale/2, det.Row-det.Scale/2, det.Scale, det.Scale, w, h); ok {
			cs = append(cs, cand{r, det.Q})
		}
	}
	// Strongest first, dropping a box that mostly lies within a stronger
	// one: clustering by IoU can leave a second, nested cluster on one face.
	slices.SortFunc(cs, func(a, b cand) int {
		if c := cmpFloat(b.q, a.q); c != 0 {
			return c
		}
		return cmpRect(a.r, b.r)
	})
	out := make([]cand, 0, min(len(cs), MaxFaces))
	for _, c := range cs {
		if len(out) == MaxFaces {
			break
		}
		if !slices.ContainsFunc(out, func(o cand) bool { return mostlyInside(c.r, o.r) }) {
			out = append(out, c)
		}
	}
	// Largest first; ties by score, then position, so the order is stable.
	slices.SortFunc(out, func(a, b cand) int {
		if c := b.r.W*b.r.H - a.r.W*a.r.H; c != 0 {
			return c
		}
		if c := cmpFloat(b.q, a.q); c != 0 {
			return c
		}
		return cmpRect(a.r, b.r)
	})
	rs := make([]Rect, len(out))
	for i, c := range out {
		rs[i] = c.r
	}
	return rs
}

// cmpRect orders larger boxes first, then top to bottom, left to right.
func cmpRect(a, b Rect) int {
	if c := b.W*b.H - a.W*a.H; c != 0 {
		return c
	}
	if a.Y != b.Y {
		return a.Y - b.Y
	}
	return a.X - b.X
}

// mostlyInside reports whether a and b overlap by more than half of the
// smaller one's area.
func mostlyInside(a, b Rect) bool {
	iw := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
	ih := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
	if iw <= 0 || ih <= 0 {
		return false
	}
	return 2*iw*ih > min(a.W*a.H, b.W*b.H)
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// clamp intersects the box with the w×h image; ok is false if nothing is
// left.
func clamp(x, y, bw, bh, w, h int) (Rect, bool) {
	x0, y0 := max(x, 0), max(y, 0)
	x1, y1 := min(x+bw, w), min(y+bh, h)
	if x1 <= x0 || y1 <= y0 {
		return Rect{}, false
	}
	return Rect{X: x0, Y: y0, W: x1 - x0, H: y1 - y0}, true
}

// Scale maps r from a reduced image to one fx times wider and fy times
// taller, rounding outwards, and clamps it to that w×h image. A box that
// falls outside shrinks to a 1×1 box at the nearest edge. If w or h is
// below 1 the result is the zero Rect.
func (r Rect) Scale(fx, fy float64, w, h int) Rect {
	if w < 1 || h < 1 {
		return Rect{}
	}
	x0 := int(math.Floor(float64(r.X) * fx))
	y0 := int(math.Floor(float64(r.Y) * fy))
	x1 := int(math.Ceil(float64(r.X+r.W) * fx))
	y1 := int(math.Ceil(float64(r.Y+r.H) * fy))
	out, ok := clamp(x0, y0, x1-x0, y1-y0, w, h)
	if !ok {
		return Rect{X: min(max(x0, 0), w-1), Y: min(max(y0, 0), h-1), W: 1, H: 1}
	}
	return out
}

// reduce shrinks gray (w×h) by area averaging so that its long side is at
// most side, keeping the aspect ratio. Each output pixel averages the
// input pixels whose centres fall in its footprint.
func reduce(gray []byte, w, h, side int) ([]byte, int, int) {
	f := float64(max(w, h)) / float64(side)
	sw := max(1, min(side, int(math.Round(float64(w)/f))))
	sh := max(1, min(side, int(math.Round(float64(h)/f))))
	// Column and row spans in the source for every output column and row.
	xs := spans(w, sw)
	ys := spans(h, sh)
	out := make([]byte, sw*sh)
	sums := make([]uint64, sw)
	for oy := 0; oy < sh; oy++ {
		clear(sums)
		for y := ys[oy]; y < ys[oy+1]; y++ {
			row := gray[y*w : y*w+w]
			for ox := 0; ox < sw; ox++ {
				var s uint64
				for _, v := range row[xs[ox]:xs[ox+1]] {
					s += uint64(v)
				}
				sums[ox] += s
			}
		}
		rows := uint64(ys[oy+1] - ys[oy])
		for ox := 0; ox < sw; ox++ {
			n := rows * uint64(xs[ox+1]-xs[ox])
			out[oy*sw+ox] = byte((sums[ox] + n/2) / n)
		}
	}
	return out, sw, sh
}

// spans splits n source pixels into m non-empty runs (m <= n) and returns
// the m+1 boundaries.
func spans(n, m int) []int {
	b := make([]int, m+1)
	for i := 0; i <= m; i++ {
		b[i] = int(int64(i) * int64(n) / int64(m))
	}
	return b
}

// Union returns the bounding box of rs, the area g_faces crops to. An
// empty rs gives the zero Rect.
func Union(rs []Rect) Rect {
	if len(rs) == 0 {
		return Rect{}
	}
	x0, y0 := rs[0].X, rs[0].Y
	x1, y1 := rs[0].X+rs[0].W, rs[0].Y+rs[0].H
	for _, r := range rs[1:] {
		x0, y0 = min(x0, r.X), min(y0, r.Y)
		x1, y1 = max(x1, r.X+r.W), max(y1, r.Y+r.H)
	}
	return Rect{X: x0, Y: y0, W: x1 - x0, H: y1 - y0}
}
