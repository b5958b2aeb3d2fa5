package render

import (
	"image"
	"runtime"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/format"
)

// Decode reads any image Refract reads into an 8-bit RGBA Go image of its
// first frame, as displayed (EXIF orientation applied), and counts its
// frames. Tests
// and tools use it to check derivatives in formats Go cannot decode.
func Decode(b []byte) (*image.NRGBA, int, error) {
	Startup()
	defer runtime.KeepAlive(b)
	f := Sniff(b)
	if f == format.Unknown {
		return nil, 0, errInvalid
	}
	img, err := load(b, f, loadOptions{Shrink: 1, Frames: true, FailOn: vips.FailOnError})
	if err != nil {
		return nil, 0, errInvalid
	}
	defer img.Close()
	info := describe(img, f)
	if info.Pages > 1 {
		if err := img.ExtractArea(0, 0, img.Width(), info.PageHeight); err != nil {
			return nil, 0, vipsErr("frame", err)
		}
	}
	if err := img.Autorot(nil); err != nil {
		return nil, 0, vipsErr("autorotate", err)
	}
	if err := toSRGB(img); err != nil {
		return nil, 0, err
	}
	if img.Bands() < 3 {
		if err := img.Colourspace(vips.InterpretationSrgb, nil); err != nil {
			return nil, 0, vipsErr("colourspace", err)
		}
	}
	if !img.HasAlpha() {
		if err := addAlpha(img); err != nil {
			return nil, 0, err
		}
	}
	pix, err := img.WriteToMemory()
	if err != nil {
		return nil, 0, vipsErr("decode", err)
	}
	out := &image.NRGBA{Pix: pix, Stride: 4 * img.Width(), Rect: image.Rect(0, 0, img.Width(), img.Height())}
	return out, info.Pages, nil
}
