// Package synth draws the benchmarks' source images.
package synth

import (
	"image"
	"math"
	"math/rand/v2"
)

// Photo draws a deterministic photo-like image: smooth gradients and
// colour waves under per-pixel noise, so JPEG sizes scale like a
// photo's rather than like a flat test card's. With texture, detail at
// 15–60 px periods is added, which survives downscales (a photo's
// detail) where the noise does not (its grain); without, the image is
// the one edgebench has always served.
func Photo(w, h int, seed uint64, texture bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for y := range h {
		fy := float64(y) / float64(h)
		for x := range w {
			fx := float64(x) / float64(w)
			n := func() float64 { return float64(rng.IntN(25) - 12) }
			t := 0.0
			if texture {
				t = 28*math.Sin(0.21*float64(x)+3*math.Sin(0.013*float64(y)))*math.Cos(0.17*float64(y)+2*math.Sin(0.011*float64(x))) +
					12*math.Sin(0.05*float64(x+y))
			}
			r := 40 + 170*fx + 30*math.Sin(9*fy+3*fx) + t + n()
			g := 60 + 150*fy + 25*math.Sin(7*fx) + 0.7*t + n()
			b := 110 + 70*math.Sin(5*(fx+fy)) - 0.5*t + n()
			o := img.PixOffset(x, y)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = Clamp(r), Clamp(g), Clamp(b), 255
		}
	}
	return img
}

// Clamp rounds v to a channel value, 0 to 255.
func Clamp(v float64) uint8 { return uint8(max(0, min(255, math.Round(v)))) }
