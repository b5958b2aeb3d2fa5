package main

import (
	"bytes"
	"image"
	"image/jpeg"

	"github.com/refract-cdn/refract/bench/internal/synth"
)

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
		b := encodeJPEG(synth.Photo(w, h, uint64(target), false), 85)
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
