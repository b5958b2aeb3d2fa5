package render

import (
	"errors"
	"fmt"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/clderr"
)

// libvips holds an animation as one tall image: its frames stacked top to
// bottom, with the metadata "page-height" (one frame's rows), "n-pages",
// "delay" (an int array, ms per frame) and "loop" (0: forever). gifsave
// and webpsave write such an image as an animation.

const (
	// maxFrames bounds the frames of an animation Refract splits or joins.
	maxFrames = 300
	// maxAnimationPixels bounds the pixels of all of an animation's frames
	// together, the memory that splitting, joining and encoding touch.
	maxAnimationPixels = 100_000_000
	// defaultDelay is a frame's delay, in ms, when none is given.
	defaultDelay = 100
	// GIF stores delays in centiseconds in 16 bits, and loop counts in 16
	// bits; WebP allows more, GIF is the stricter.
	maxDelay, maxLoop = 65535 * 10, 65535
)

// pages returns the page height and count of img: its pages when it holds
// several of equal height, else its height and 1.
func pages(img *vips.Image) (pageHeight, n int) {
	h := img.Height()
	ph := img.PageHeight()
	if ph <= 0 || ph >= h || h%ph != 0 {
		return h, 1
	}
	return ph, h / ph
}

// checkAnimation refuses n frames of w×h over maxFrames or maxAnimationPixels.
func checkAnimation(n, w, h int) error {
	if n > maxFrames {
		return clderr.BadRequest("Animation has too many frames: %d is over the limit of %d", n, maxFrames)
	}
	if int64(n)*int64(w)*int64(h) > maxAnimationPixels {
		return clderr.BadRequest("Animation is too large: %d frames of %dx%d are over the limit of %d pixels", n, w, h, maxAnimationPixels)
	}
	return nil
}

// splitFrames cuts img into its frames of pageHeight rows, top to bottom.
// Each frame is a lazy view of img (nothing is decoded here) and a still
// image of its own (n-pages 1); the caller closes them. Animations over
// maxFrames or maxAnimationPixels are refused with a 400.
func splitFrames(img *vips.Image, pageHeight int) ([]*vips.Image, error) {
	if img == nil {
		return nil, errors.New("render: split frames: no image")
	}
	w, h := img.Width(), img.Height()
	if pageHeight <= 0 || pageHeight > h || h%pageHeight != 0 {
		return nil, fmt.Errorf("render: split frames: a page height of %d does not divide the image's %d rows", pageHeight, h)
	}
	n := h / pageHeight
	if err := checkAnimation(n, w, pageHeight); err != nil {
		return nil, err
	}
	frames := make([]*vips.Image, 0, n)
	for i := range n {
		fr, err := img.Copy(nil)
		if err == nil {
			err = fr.ExtractArea(0, i*pageHeight, w, pageHeight)
		}
		if err == nil {
			err = fr.SetPages(1)
		}
		if err != nil {
			fr.Close()
			closeFrames(frames)
			return nil, vipsErr("split frames", err)
		}
		frames = append(frames, fr)
	}
	return frames, nil
}

// joinFrames stacks frames, which must all have the same size and bands,
// into one animation with delays (ms per frame; nil: 100 ms each) and a
// loop count (0: forever), so that gifsave and webpsave write an
// animation. The frames are not closed. Delays and the loop count are
// clamped to what GIF can store. Animations over maxFrames or
// maxAnimationPixels are refused with a 400.
func joinFrames(frames []*vips.Image, delays []int, loop int) (*vips.Image, error) {
	n := len(frames)
	if n == 0 {
		return nil, errors.New("render: join frames: no frames")
	}
	if delays != nil && len(delays) != n {
		return nil, fmt.Errorf("render: join frames: %d delays for %d frames", len(delays), n)
	}
	for i, fr := range frames {
		if fr == nil {
			return nil, fmt.Errorf("render: join frames: frame %d is missing", i+1)
		}
	}
	w, h, bands := frames[0].Width(), frames[0].Height(), frames[0].Bands()
	for i, fr := range frames[1:] {
		if fr.Width() != w || fr.Height() != h || fr.Bands() != bands {
			return nil, fmt.Errorf("render: join frames: frame %d is %dx%d with %d bands, frame 1 %dx%d with %d",
				i+2, fr.Width(), fr.Height(), fr.Bands(), w, h, bands)
		}
	}
	if err := checkAnimation(n, w, h); err != nil {
		return nil, err
	}
	d := make([]int, n)
	for i := range d {
		d[i] = defaultDelay
		if delays != nil {
			d[i] = min(max(delays[i], 0), maxDelay)
		}
	}
	var out *vips.Image
	var err error
	if n == 1 {
		out, err = frames[0].Copy(nil)
	} else {
		out, err = vips.NewArrayjoin(frames, &vips.ArrayjoinOptions{Across: 1})
	}
	if err == nil {
		err = out.SetPages(n) // a fresh copy: the metadata below is out's own
	}
	if err != nil {
		out.Close()
		return nil, vipsErr("join frames", err)
	}
	if err := out.SetPageHeight(h); err != nil {
		out.Close()
		return nil, vipsErr("join frames", err)
	}
	if err := out.SetArrayInt("delay", d); err != nil {
		out.Close()
		return nil, vipsErr("join frames", err)
	}
	if out.HasField("gif-delay") {
		out.SetInt("gif-delay", (d[0]+5)/10) // the legacy field, in centiseconds
	}
	out.SetLoop(min(max(loop, 0), maxLoop))
	return out, nil
}

func closeFrames(frames []*vips.Image) {
	for _, fr := range frames {
		fr.Close()
	}
}
