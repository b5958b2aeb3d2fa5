package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// photo draws a deterministic photo-like image: smooth gradients and
// colour waves under per-pixel noise, so JPEG sizes scale like a photo's
// rather than like a flat test card's.
func photo(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for y := range h {
		fy := float64(y) / float64(h)
		for x := range w {
			fx := float64(x) / float64(w)
			n := func() float64 { return float64(rng.IntN(25) - 12) }
			r := 40 + 170*fx + 30*math.Sin(9*fy+3*fx) + n()
			g := 60 + 150*fy + 25*math.Sin(7*fx) + n()
			b := 110 + 70*math.Sin(5*(fx+fy)) + n()
			img.SetRGBA(x, y, color.RGBA{clamp(r), clamp(g), clamp(b), 255})
		}
	}
	return img
}

func clamp(v float64) uint8 {
	return uint8(max(0, min(255, math.Round(v))))
}

func encodeJPEG(img image.Image, q int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		panic(err) // writing to memory cannot fail
	}
	return b.Bytes()
}

// jpegNear returns a 4:3 photo-like JPEG (q85) whose size is as close to
// target bytes as a whole width allows, with its dimensions.
func jpegNear(target int) ([]byte, int, int) {
	lo, hi := 8, 4000
	var best []byte
	bw, bh := 0, 0
	for lo <= hi {
		w := (lo + hi) / 2
		h := max(1, w*3/4)
		b := encodeJPEG(photo(w, h, uint64(target)), 85)
		if best == nil || abs(len(b)-target) < abs(len(best)-target) {
			best, bw, bh = b, w, h
		}
		if len(b) < target {
			lo = w + 1
		} else {
			hi = w - 1
		}
	}
	return best, bw, bh
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
