package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/face"
	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
)

// TestGolden runs testdata/golden.txt: each line is a delivery URL (after
// /testcloud/image/upload/) with its expected status, format, size and
// pixel checks, fetched through a whole dev node.
func TestGolden(t *testing.T) {
	cases := readGolden(t, "testdata/golden.txt")
	if len(cases) < 150 {
		t.Fatalf("the golden table has %d cases; it must have at least 150", len(cases))
	}
	n := newNode(t, func(c *devConfig) { c.Transformations = "testdata/transformations.json" })
	for id, src := range goldenSources(t) {
		name := "x.png"
		if r := rawUpload(t, n, "image", src, name, secret, time.Now(), map[string][]string{"public_id": {id}}); r.status != 200 {
			t.Fatalf("upload %s: %d %s", id, r.status, r.Error.Message)
		}
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			r := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/"+c.path, c.header...)
			c.check(t, r)
		})
	}
}

// goldenSources are the images the table refers to by public_id.
func goldenSources(t *testing.T) map[string][]byte {
	photo, err := os.ReadFile("../../origin/face/testdata/astronaut.jpg")
	if err != nil {
		t.Fatal(err)
	}
	solid := func(w, h int, c color.RGBA) []byte {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
		}
		return testimg.PNG(img)
	}
	red, green, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}
	// A grey frame around a white middle, for trim and b_auto.
	framed := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for y := 0; y < 100; y++ {
		for x := 0; x < 200; x++ {
			c := color.RGBA{255, 255, 255, 255}
			if x < 20 || x >= 180 || y < 20 || y >= 80 {
				c = color.RGBA{128, 128, 128, 255}
			}
			framed.SetRGBA(x, y, c)
		}
	}
	return map[string][]byte{
		"quad":                 testimg.JPEG(testimg.Quadrants(600, 400)),
		"quadpng":              testimg.PNG(testimg.Quadrants(600, 400)),
		"circle":               testimg.PNG(testimg.TransparentCircle(200, 200)),
		"rot6":                 testimg.WithOrientation(testimg.JPEG(testimg.Quadrants(600, 400)), 6),
		"anim":                 testimg.AnimatedGIF(60, 40, []color.RGBA{red, green, blue}, []int{10, 20, 30}),
		"doc":                  testimg.PDF(testimg.Page{W: 72, H: 72, C: red}, testimg.Page{W: 144, H: 72, C: blue}),
		"vec":                  testimg.SVG(100, 50, green),
		"face":                 photo,
		"logo":                 solid(50, 50, blue),
		"brand/mark":           testimg.PNG(testimg.TransparentCircle(40, 40)),
		"framed":               testimg.PNG(framed),
		"placeholders/missing": solid(30, 30, green),
	}
}

type goldenCase struct {
	path   string
	header []string
	status int
	format format.Format // Unknown: not checked
	w, h   int           // 0: not checked
	checks []string
	err    string
}

// readGolden parses the table: tab-separated path, status, format ("-"
// for none), WxH ("-"), then checks separated by spaces; "err:" takes the
// rest of the line. A path may carry request headers after " @",
// "Name=Value" separated by " @".
func readGolden(t *testing.T, path string) []goldenCase {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []goldenCase
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		cols := strings.Split(text, "\t")
		cols = slicesNonEmpty(cols)
		if len(cols) < 4 {
			t.Fatalf("golden.txt:%d: want path, status, format and size: %q", line, text)
		}
		var c goldenCase
		parts := strings.Split(cols[0], " @")
		c.path = parts[0]
		for _, h := range parts[1:] {
			k, v, _ := strings.Cut(h, "=")
			c.header = append(c.header, k, v)
		}
		if c.status, err = strconv.Atoi(cols[1]); err != nil {
			t.Fatalf("golden.txt:%d: status %q", line, cols[1])
		}
		if cols[2] != "-" {
			if c.format = format.FromExt(cols[2]); c.format == format.Unknown {
				t.Fatalf("golden.txt:%d: format %q", line, cols[2])
			}
		}
		if cols[3] != "-" {
			if _, err := fmt.Sscanf(cols[3], "%dx%d", &c.w, &c.h); err != nil {
				t.Fatalf("golden.txt:%d: size %q", line, cols[3])
			}
		}
		if len(cols) > 4 {
			rest := strings.Join(cols[4:], " ")
			if i := strings.Index(rest, "err:"); i >= 0 {
				c.err, rest = rest[i+4:], rest[:i]
			}
			c.checks = strings.Fields(rest)
		}
		cases = append(cases, c)
	}
	return cases
}

func slicesNonEmpty(s []string) []string {
	out := s[:0]
	for _, x := range s {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (c *goldenCase) check(t *testing.T, r response) {
	t.Helper()
	if r.status != c.status {
		t.Fatalf("status %d, want %d (X-Cld-Error %q)", r.status, c.status, r.header.Get("X-Cld-Error"))
	}
	if c.err != "" && r.header.Get("X-Cld-Error") != c.err {
		t.Errorf("X-Cld-Error %q, want %q", r.header.Get("X-Cld-Error"), c.err)
	}
	if c.status != 200 {
		return
	}
	var img *image.NRGBA
	frames := 0
	if c.format == format.JSON {
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q, want JSON", ct)
		}
	} else {
		var err error
		if img, frames, err = render.Decode(r.body); err != nil {
			t.Fatalf("the body does not decode: %v", err)
		}
		if got := render.Sniff(r.body); c.format != format.Unknown && got != c.format {
			t.Errorf("format %s, want %s", got, c.format)
		}
		if ct := r.header.Get("Content-Type"); c.format != format.Unknown && ct != c.format.MIME() {
			t.Errorf("Content-Type %q, want %q", ct, c.format.MIME())
		}
		if w, h := img.Bounds().Dx(), img.Bounds().Dy(); c.w != 0 && (w != c.w || h != c.h) {
			t.Errorf("size %dx%d, want %dx%d", w, h, c.w, c.h)
		}
	}
	for _, ck := range c.checks {
		if msg := runCheck(ck, r, img, frames); msg != "" {
			t.Errorf("%s: %s", ck, msg)
		}
	}
}

// runCheck evaluates one check and describes a failure, or returns "".
//
//	px:X,Y=RRGGBB[AA][~TOL]  the pixel (negative X/Y count from the far edge)
//	gray                     R=G=B across the image
//	frames:N                 an animation's frame count
//	hdr:Name~text            a response header containing text
//	nohdr:Name               a header that must be absent
//	json:a.b=V               a JSON body field
//	progressive, paletted    JPEG SOF2 / PNG colour type 3
//	face, noface             a face is (is not) detected, away from the edges
//	warm:X,Y                 R > G > B (sepia)
//	lighter|darker|differs:X,Y=RRGGBB   against a reference colour
//	same:X,Y=X2,Y2           two pixels alike (pixelation)
//	ink:X0,Y0,X1,Y1=RRGGBB   some pixel in the box near the colour (text)
func runCheck(ck string, r response, img *image.NRGBA, frames int) string {
	kind, arg, _ := strings.Cut(ck, ":")
	switch kind {
	case "px":
		pos, want, _ := strings.Cut(arg, "=")
		tol := 40
		if w, t, ok := strings.Cut(want, "~"); ok {
			want = w
			tol, _ = strconv.Atoi(t)
		}
		var x, y int
		fmt.Sscanf(pos, "%d,%d", &x, &y)
		b := img.Bounds()
		if x < 0 {
			x += b.Dx()
		}
		if y < 0 {
			y += b.Dy()
		}
		if !(image.Point{x, y}.In(b)) {
			return fmt.Sprintf("(%d,%d) is outside %v", x, y, b)
		}
		wc, ok := hexColor(want)
		if !ok {
			return "bad colour " + want
		}
		got := img.NRGBAAt(x, y)
		if len(want) == 6 {
			wc.A = got.A // alpha not checked
		}
		if !testimg.Near(premul(got), premul(wc), tol) {
			return fmt.Sprintf("pixel (%d,%d) is %v, want %v ±%d", x, y, got, wc, tol)
		}
	case "warm", "lighter", "darker", "differs", "same":
		pos, ref, _ := strings.Cut(arg, "=")
		p, ok := at(img, pos)
		if !ok {
			return "bad position " + pos
		}
		luma := func(c color.NRGBA) int { return (299*int(c.R) + 587*int(c.G) + 114*int(c.B)) / 1000 }
		switch kind {
		case "warm":
			if !(p.R > p.G && p.G > p.B) {
				return fmt.Sprintf("%v is not warm (R>G>B)", p)
			}
			return ""
		case "same":
			q, ok := at(img, ref)
			if !ok || !testimg.Near(p, q, 6) {
				return fmt.Sprintf("%v and %v differ", p, q)
			}
			return ""
		}
		rc, ok := hexColor(ref)
		if !ok {
			return "bad colour " + ref
		}
		switch {
		case kind == "lighter" && luma(p) <= luma(rc)+10:
			return fmt.Sprintf("%v is not lighter than %v", p, rc)
		case kind == "darker" && luma(p) >= luma(rc)-10:
			return fmt.Sprintf("%v is not darker than %v", p, rc)
		case kind == "differs" && testimg.Near(p, rc, 12):
			return fmt.Sprintf("%v is still %v", p, rc)
		}
	case "ink":
		// ink:X0,Y0,X1,Y1=RRGGBB: some pixel in the box is near the colour.
		box, want, _ := strings.Cut(arg, "=")
		var x0, y0, x1, y1 int
		fmt.Sscanf(box, "%d,%d,%d,%d", &x0, &y0, &x1, &y1)
		wc, ok := hexColor(want)
		if !ok {
			return "bad colour " + want
		}
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				if testimg.Near(img.NRGBAAt(x, y), wc, 60) {
					return ""
				}
			}
		}
		return fmt.Sprintf("no pixel near %v in %v", wc, box)
	case "gray":
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += max(1, b.Dy()/9) {
			for x := b.Min.X; x < b.Max.X; x += max(1, b.Dx()/9) {
				p := img.NRGBAAt(x, y)
				if absDiff(p.R, p.G) > 3 || absDiff(p.G, p.B) > 3 {
					return fmt.Sprintf("pixel (%d,%d) is %v, not grey", x, y, p)
				}
			}
		}
	case "frames":
		if n, _ := strconv.Atoi(arg); n != frames {
			return fmt.Sprintf("%d frames, want %d", frames, n)
		}
	case "hdr":
		name, text, _ := strings.Cut(arg, "~")
		if got := r.header.Get(name); !strings.Contains(got, text) {
			return fmt.Sprintf("%s is %q", name, got)
		}
	case "nohdr":
		if got := r.header.Get(arg); got != "" {
			return fmt.Sprintf("%s is %q, want none", arg, got)
		}
	case "json":
		key, want, _ := strings.Cut(arg, "=")
		var doc any
		if err := json.Unmarshal(r.body, &doc); err != nil {
			return "body is not JSON: " + err.Error()
		}
		for _, k := range strings.Split(key, ".") {
			m, ok := doc.(map[string]any)
			if !ok {
				return "no " + key
			}
			doc = m[k]
		}
		if got := fmt.Sprint(doc); got != want {
			return fmt.Sprintf("%s is %s, want %s", key, got, want)
		}
	case "progressive":
		if !bytes.Contains(r.body, []byte{0xFF, 0xC2}) {
			return "no SOF2 marker"
		}
	case "paletted":
		if len(r.body) < 26 || r.body[25] != 3 {
			return "not a palette PNG"
		}
	case "face", "noface":
		b := img.Bounds()
		gray := make([]byte, b.Dx()*b.Dy())
		for i := range gray {
			p := img.Pix[4*i:]
			gray[i] = uint8((299*int(p[0]) + 587*int(p[1]) + 114*int(p[2])) / 1000)
		}
		d, err := face.New()
		if err != nil {
			return err.Error()
		}
		faces := d.Detect(gray, b.Dx(), b.Dy())
		if kind == "noface" {
			if len(faces) > 0 {
				return fmt.Sprintf("a face is still visible at %+v", faces[0])
			}
			return ""
		}
		if len(faces) == 0 {
			return "no face in the output"
		}
		f := faces[0]
		cx, cy := f.X+f.W/2, f.Y+f.H/2
		if cx < b.Dx()/10 || cx > 9*b.Dx()/10 || cy < b.Dy()/10 || cy > 9*b.Dy()/10 {
			return fmt.Sprintf("the face %+v is not in the middle of %v", f, b)
		}
	default:
		return "unknown check"
	}
	return ""
}

// at reads "X,Y" (negative from the far edge) as a pixel of img.
func at(img *image.NRGBA, pos string) (color.NRGBA, bool) {
	var x, y int
	if _, err := fmt.Sscanf(pos, "%d,%d", &x, &y); err != nil {
		return color.NRGBA{}, false
	}
	b := img.Bounds()
	if x < 0 {
		x += b.Dx()
	}
	if y < 0 {
		y += b.Dy()
	}
	if !(image.Point{x, y}.In(b)) {
		return color.NRGBA{}, false
	}
	return img.NRGBAAt(x, y), true
}

func hexColor(s string) (color.NRGBA, bool) {
	if len(s) != 6 && len(s) != 8 {
		return color.NRGBA{}, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return color.NRGBA{}, false
	}
	if len(s) == 6 {
		return color.NRGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}, true
	}
	return color.NRGBA{uint8(v >> 24), uint8(v >> 16), uint8(v >> 8), uint8(v)}, true
}

// premul compares colours as they look: a transparent pixel's colour
// does not matter.
func premul(c color.NRGBA) color.NRGBA {
	if c.A == 0 {
		return color.NRGBA{}
	}
	return c
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}
