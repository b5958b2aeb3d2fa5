package testimg

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"strings"
)

// AnimatedGIF is a looping w×h GIF with one flat frame per colour, each
// shown for its delay in centiseconds.
func AnimatedGIF(w, h int, colors []color.RGBA, delays []int) []byte {
	pal := color.Palette{color.White}
	seen := map[color.RGBA]bool{}
	for _, c := range colors {
		if !seen[c] {
			seen[c] = true
			pal = append(pal, c)
		}
	}
	g := &gif.GIF{LoopCount: 0, Delay: delays}
	for _, c := range colors {
		p := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		idx := uint8(pal.Index(c))
		for i := range p.Pix {
			p.Pix[i] = idx
		}
		g.Image = append(g.Image, p)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// Page is a PDF page of W×H points filled with one colour.
type Page struct {
	W, H float64
	C    color.RGBA
}

// PDF writes a minimal valid PDF, with a correct cross-reference table.
func PDF(pages ...Page) []byte {
	var b bytes.Buffer
	var offsets []int
	obj := func(s string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), s)
	}
	b.WriteString("%PDF-1.4\n")
	var kids []string
	for i := range pages {
		kids = append(kids, fmt.Sprintf("%d 0 R", 3+2*i))
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages)))
	for i, p := range pages {
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Contents %d 0 R >>", p.W, p.H, 4+2*i))
		s := fmt.Sprintf("%g %g %g rg 0 0 %g %g re f", float64(p.C.R)/255, float64(p.C.G)/255, float64(p.C.B)/255, p.W, p.H)
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(s), s))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

// SVG is a w×h SVG document filled with one colour.
func SVG(w, h int, c color.RGBA) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d"><rect width="%d" height="%d" fill="#%02x%02x%02x"/></svg>`,
		w, h, w, h, w, h, c.R, c.G, c.B)
}
