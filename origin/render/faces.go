package render

import (
	"fmt"
	"math"
	"sync"

	"github.com/refract-cdn/refract/origin/face"
	"github.com/refract-cdn/refract/origin/vips"
)

// faceSide is the long side, in pixels, of the grey copy faces are looked
// for in. It keeps a call near 0.1 s of one core (a 2048 px source: 40 ms
// to reduce, 100 ms to scan); faces smaller than about face.MinFace at
// this size (4% of the long side) are not found.
const faceSide = 512

var (
	faceOnce sync.Once
	faceDet  *face.Detector
	faceErr  error
)

// faceDetector is the process's one detector, built on first use.
func faceDetector() (*face.Detector, error) {
	faceOnce.Do(func() { faceDet, faceErr = face.New() })
	return faceDet, faceErr
}

// detectFaces finds the faces in img for g_face, g_faces,
// e_pixelate_faces and e_blur_faces. The boxes are in img's pixel
// coordinates, largest first; no face gives an empty slice. img itself is
// left as it was: the work happens on a grey copy at most faceSide pixels
// on its long side, with transparency flattened onto white. Of an
// animated (multi-page) image only the first frame is searched; its boxes
// apply to every frame. Since libvips is lazy, the call computes img's
// pipeline so far once more: call it on the loaded image, before costly
// operations are queued.
func detectFaces(img *vips.Image) ([]face.Rect, error) {
	d, err := faceDetector()
	if err != nil {
		return nil, err
	}
	w, h := img.Width(), img.Height()
	if ph := img.PageHeight(); ph > 0 && ph < h {
		h = ph
	}
	if w < 1 || h < 1 {
		return []face.Rect{}, nil
	}
	gray, gw, gh, err := faceGray(img, w, h)
	if err != nil {
		return nil, err
	}
	rs := d.Detect(gray, gw, gh)
	out := make([]face.Rect, 0, len(rs))
	fx, fy := float64(w)/float64(gw), float64(h)/float64(gh)
	for _, r := range rs {
		out = append(out, r.Scale(fx, fy, w, h))
	}
	return out, nil
}

// faceGray returns the top w×h of img (its first page) as 8-bit grey,
// reduced to at most faceSide on the long side, and that size.
func faceGray(img *vips.Image, w, h int) ([]byte, int, int, error) {
	c, err := img.Copy(nil)
	if err != nil {
		return nil, 0, 0, vipsErr("faces: copy", err)
	}
	defer c.Close()
	if h < c.Height() {
		if err := c.ExtractArea(0, 0, w, h); err != nil {
			return nil, 0, 0, vipsErr("faces: first page", err)
		}
	}
	// Shrink first, so the colour conversion runs on few pixels: a box
	// filter by the integer part of the factor, then a Lanczos reduce by
	// the rest (below 2). Together they cost a tenth of vips_resize here.
	if long := max(w, h); long > faceSide {
		f := float64(long) / faceSide
		if k := math.Floor(f); k >= 2 {
			if err := c.Shrink(k, k, nil); err != nil {
				return nil, 0, 0, vipsErr("faces: shrink", err)
			}
			f /= k
		}
		if f > 1.001 {
			if err := c.Reduce(f, f, nil); err != nil {
				return nil, 0, 0, vipsErr("faces: reduce", err)
			}
		}
	}
	if err := c.Colourspace(vips.InterpretationBW, nil); err != nil {
		return nil, 0, 0, vipsErr("faces: grey", err)
	}
	switch c.BandFormat() {
	case vips.BandFormatUchar:
	case vips.BandFormatUshort:
		if err := c.Cast(vips.BandFormatUchar, &vips.CastOptions{Shift: true}); err != nil {
			return nil, 0, 0, vipsErr("faces: cast", err)
		}
	default:
		if err := c.Cast(vips.BandFormatUchar, nil); err != nil {
			return nil, 0, 0, vipsErr("faces: cast", err)
		}
	}
	if c.HasAlpha() {
		if err := c.Flatten(&vips.FlattenOptions{Background: []float64{255}, MaxAlpha: 255}); err != nil {
			return nil, 0, 0, vipsErr("faces: flatten", err)
		}
	}
	if c.Bands() > 1 {
		if err := c.ExtractBand(0, nil); err != nil {
			return nil, 0, 0, vipsErr("faces: band", err)
		}
	}
	gw, gh := c.Width(), c.Height()
	buf, err := c.WriteToMemory()
	if err != nil {
		return nil, 0, 0, vipsErr("faces: read pixels", err)
	}
	if gw < 1 || gh < 1 || len(buf) != gw*gh {
		return nil, 0, 0, fmt.Errorf("render: faces: %d bytes for a %dx%d grey image", len(buf), gw, gh)
	}
	return buf, gw, gh, nil
}
