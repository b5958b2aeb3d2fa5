package render

import (
	"encoding/json"
	"image"
	"math"
	"runtime"
	"strings"

	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
)

// Request is one render: a chain, and the output format (concrete, or
// Auto to negotiate with Accepts).
type Request struct {
	Chain     *transform.Chain
	Format    format.Format
	Accepts   format.Accepts
	MaxPixels int // the largest output, and intermediate, in pixels
	// Layer returns the original bytes of an overlay's or underlay's
	// public_id, or an error for a missing one.
	Layer func(publicID string) ([]byte, error)
	// Named returns the text of a named transformation (t_<name>).
	Named func(name string) (string, bool)
}

// Result is an encoded derivative. For fl_getinfo, Body is JSON and
// Format is format.JSON.
type Result struct {
	Body          []byte
	Format        format.Format
	Width, Height int
}

// Render applies req.Chain to src and encodes the result.
func Render(src []byte, req Request) (Result, error) {
	Startup()
	defer runtime.KeepAlive(src)
	f := Sniff(src)
	if f == format.Unknown {
		return Result{}, errInvalid
	}
	chain := req.Chain
	if chain == nil {
		chain = &transform.Chain{}
	}
	chain, err := expandNamed(chain, req.Named, 0)
	if err != nil {
		return Result{}, err
	}
	lo := loadOptions{Page: chainPage(chain), Density: float64(chainDensity(chain)), MaxPixels: req.MaxPixels}
	head, err := load(src, f, loadOptions{Shrink: 1, Page: lo.Page, Density: lo.Density, MaxPixels: req.MaxPixels})
	if err != nil {
		return Result{}, asInvalid(err)
	}
	info := describe(head, f)
	head.Close()
	animated := Animated(f, info.Pages, chain)
	out := ResolveFormat(req.Format, req.Accepts, f, info.Alpha, animated)
	getinfo := chain.Flags()&transform.FlagGetInfo != 0
	if !out.Writable() && !getinfo {
		return Result{}, UnsupportedFormat(out)
	}
	// Only GIF and WebP carry the frames on; any other output gets the first.
	animated = animated && (out == format.GIF || out == format.WebP)
	lo.Frames = animated
	if animated && info.Pages > maxFaceFrames && usesFaces(chain) {
		// Detection runs on every frame; past this it would take seconds.
		return Result{}, clderr.BadRequest("Face detection on animations is limited to %d frames; this one has %d", maxFaceFrames, info.Pages)
	}

	r := &runner{req: &req, maxPixels: req.MaxPixels, bg: white}
	r.env.IW, r.env.IH, r.env.Pages = float64(info.Width), float64(info.Height), float64(info.Pages)
	img, first, err := loadForChain(src, f, chain, lo)
	if err != nil {
		return Result{}, err
	}
	r.first = first
	defer func() { img.Close() }()
	if animated {
		img, err = r.runFrames(img, chain.Components)
	} else {
		err = r.run(img, chain.Components, 0)
	}
	if err != nil {
		return Result{}, err
	}
	w, h := img.Width(), img.Height()
	if animated {
		h = img.PageHeight()
	}
	if getinfo {
		body, err := r.info(info, w, h, ResolveFormat(chain.Format(), req.Accepts, f, info.Alpha, animated))
		return Result{Body: body, Format: format.JSON, Width: w, Height: h}, err
	}
	if limit := maxSide(out); w > limit || h > limit {
		return Result{}, clderr.BadRequest("Requested image is too large: %dx%d is over %s's limit of %d pixels on a side", w, h, out, limit)
	}
	body, err := encodeWith(img, out, r.encodeOptions(chain, out, animated))
	if err != nil {
		return Result{}, err
	}
	return Result{Body: body, Format: out, Width: w, Height: h}, nil
}

// maxFaceFrames bounds face detection on an animation, frame by frame.
const maxFaceFrames = 50

// usesFaces reports whether any component needs face detection.
func usesFaces(ch *transform.Chain) bool {
	for i := range ch.Components {
		c := &ch.Components[i]
		k := c.Effect.Kind
		if c.Gravity.Faces() || c.Has(transform.ParamEffect) && (k == transform.EffectPixelateFaces || k == transform.EffectBlurFaces) ||
			strings.Contains(c.If.Expr, "fc") {
			return true
		}
	}
	return false
}

// maxSide is the longest side an encoder can write.
func maxSide(f format.Format) int {
	switch f {
	case format.WebP:
		return 16383
	case format.AVIF:
		return 16384 // libheif's default security limit
	case format.JPEG, format.GIF:
		return 65535
	}
	return 1 << 20
}

// Animated reports whether a render of a src with pages keeps its frames
// (when the output can carry them): an animated GIF or WebP, with no pg_
// picking one frame. A PDF's pages are never an animation.
func Animated(src format.Format, pages int, ch *transform.Chain) bool {
	return pages > 1 && src.Animation() && chainPage(ch) == 0
}

// asInvalid keeps a loader's 400 (a page out of range, a PDF too large)
// and turns anything else into "Invalid image file".
func asInvalid(err error) error {
	if clderr.Status(err) == 400 {
		return err
	}
	return errInvalid
}

var white = transform.Color{R: 255, G: 255, B: 255, A: 255}

func chainPage(ch *transform.Chain) int {
	for i := range ch.Components {
		if ch.Components[i].Has(transform.ParamPage) {
			return ch.Components[i].Page
		}
	}
	return 0
}

func chainDensity(ch *transform.Chain) int {
	for i := range ch.Components {
		if ch.Components[i].Has(transform.ParamDensity) {
			return ch.Components[i].Density
		}
	}
	return 0
}

func (r *runner) encodeOptions(chain *transform.Chain, out format.Format, animated bool) encodeOptions {
	fl := chain.Flags()
	return encodeOptions{
		Quality:      Quality(chain, out),
		Progressive:  fl&transform.FlagProgressive != 0,
		PNG8:         fl&transform.FlagPNG8 != 0,
		Lossy:        fl&transform.FlagLossy != 0,
		StripProfile: fl&(transform.FlagStripProfile|transform.FlagForceStrip) != 0,
		KeepIPTC:     fl&(transform.FlagKeepIPTC|transform.FlagKeepAttribution) != 0,
		Animated:     animated,
		Background:   r.bg,
	}
}

// maxNamedDepth bounds named transformations that name others.
const maxNamedDepth = 5

// expandNamed replaces each t_<name> with the named chain's components,
// followed by whatever else its component holds.
func expandNamed(in *transform.Chain, named func(string) (string, bool), depth int) (*transform.Chain, error) {
	has := false
	for i := range in.Components {
		has = has || in.Components[i].Has(transform.ParamNamed)
	}
	if !has {
		return in, nil
	}
	if depth >= maxNamedDepth {
		return nil, clderr.BadRequest("Named transformations nest more than %d deep", maxNamedDepth)
	}
	out := &transform.Chain{}
	for _, c := range in.Components {
		if !c.Has(transform.ParamNamed) {
			out.Components = append(out.Components, c)
			continue
		}
		// A condition in the component covers the whole expansion: it
		// becomes a block around it.
		cond := c.If.Kind == transform.CondIf
		if cond {
			out.Components = append(out.Components, transform.Component{If: c.If})
			c.If = transform.Cond{}
		}
		for _, name := range strings.Split(c.Named, ".") {
			text, ok := "", false
			if named != nil {
				text, ok = named(name)
			}
			if !ok {
				return nil, clderr.BadRequest("Unknown transformation %s", name)
			}
			var sub transform.Chain
			if err := transform.Parse(text, &sub); err != nil {
				return nil, clderr.BadRequest("Named transformation %s is invalid: %s", name, err)
			}
			exp, err := expandNamed(&sub, named, depth+1)
			if err != nil {
				return nil, err
			}
			out.Components = append(out.Components, exp.Components...)
		}
		c.Set &^= 1 << transform.ParamNamed
		if c.Set != 0 || c.NVars != 0 || c.If.Kind != transform.CondNone {
			out.Components = append(out.Components, c)
		}
		if cond {
			out.Components = append(out.Components, transform.Component{If: transform.Cond{Kind: transform.CondEnd}})
		}
	}
	layers := 0
	for i := range out.Components {
		if out.Components[i].HasLayer() {
			layers++
		}
	}
	if layers > transform.MaxLayers {
		return nil, clderr.BadRequest("Too many layers after expanding named transformations (at most %d)", transform.MaxLayers)
	}
	if len(out.Components) > 2*transform.MaxComponents {
		return nil, clderr.BadRequest("Too many transformation components after expanding named transformations")
	}
	return out, nil
}

// runner carries the state of one render through its components.
type runner struct {
	req       *Request
	maxPixels int
	env       transform.Env
	bg        transform.Color // the last b_ colour, for flattening
	first     *geometry       // the first component's geometry, when planned before a shrink-on-load
	faces     []image.Rectangle
	facesOf   *vips.Image // the image faces were detected on
	resizes   []geometry
	layers    map[string][]byte // layer originals, read once per render
}

// simpleFirst reports whether a first component can be planned before
// loading: nothing in it depends on the pixels.
func simpleFirst(c *transform.Component) bool {
	return c.If.Kind == transform.CondNone && c.NVars == 0 && c.NExprs == 0 && !c.HasLayer() &&
		!c.Gravity.Faces() && c.Angle.Modes&(transform.AngleAutoLeft|transform.AngleAutoRight) == 0
}

// runFrames applies the chain to each frame of an animation and joins
// them again. Smart and face cropping are planned per frame as for stills.
func (r *runner) runFrames(img *vips.Image, comps []transform.Component) (*vips.Image, error) {
	info := describe(img, format.GIF)
	frames, err := splitFrames(img, info.PageHeight)
	if err != nil {
		return img, err
	}
	defer func() {
		for _, fr := range frames {
			fr.Close()
		}
	}()
	for i, fr := range frames {
		sub := *r
		sub.env.Vars = append([]transform.Value(nil), r.env.Vars...)
		// Every frame shares the animation's budget, so n frames cannot
		// each grow to the whole limit before joinFrames refuses them.
		sub.maxPixels = min(r.maxPixels, maxAnimationPixels/len(frames))
		if err := sub.run(fr, comps, 0); err != nil {
			return img, err
		}
		if i == 0 {
			r.bg, r.resizes, r.faces = sub.bg, sub.resizes, sub.faces
		}
	}
	for _, fr := range frames[1:] {
		if fr.Width() != frames[0].Width() || fr.Height() != frames[0].Height() {
			return img, clderr.BadRequest("This transformation gives the frames of an animation different sizes")
		}
	}
	joined, err := joinFrames(frames, info.Delay, info.Loop)
	if err != nil {
		return img, err
	}
	img.Close()
	return joined, nil
}

// run applies comps to img in order, honouring conditions, variables and
// layers.
func (r *runner) run(img *vips.Image, comps []transform.Component, depth int) error {
	// active[i] says whether the i-th open if_ block applies.
	var active []bool
	on := func() bool {
		for _, a := range active {
			if !a {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(comps); i++ {
		c := comps[i] // a copy: Resolve writes into it
		end := i
		if c.HasLayer() {
			end = layerEnd(comps, i)
		}
		switch c.If.Kind {
		case transform.CondElse:
			if len(active) == 0 {
				return clderr.BadRequest("if_else without if")
			}
			active[len(active)-1] = !active[len(active)-1]
			continue
		case transform.CondEnd:
			if len(active) == 0 {
				return clderr.BadRequest("if_end without if")
			}
			active = active[:len(active)-1]
			continue
		case transform.CondIf:
			ok := false
			if on() {
				var err error
				if ok, err = r.cond(img, c.If.Expr); err != nil {
					return err
				}
			}
			if c.Set == 0 && c.NVars == 0 {
				active = append(active, ok) // a block, up to if_else / if_end
				continue
			}
			if !ok {
				i = end // the condition covers this component (and its layer) only
				continue
			}
		}
		if !on() {
			i = end
			continue
		}
		r.measure(img)
		for v := 0; v < int(c.NVars); v++ {
			val, err := transform.EvalVar(c.Vars[v], &r.env)
			if err != nil {
				return err
			}
			r.env.Set(val)
		}
		if c.Set == 0 {
			continue
		}
		if c.HasLayer() {
			if depth > 0 {
				return clderr.BadRequest("Layers cannot be nested")
			}
			if err := r.layer(img, comps[i:end+1]); err != nil {
				return err
			}
			if err := r.bounded(img); err != nil {
				return err
			}
			i = end
			continue
		}
		if err := r.component(img, &c, i == 0 && depth == 0); err != nil {
			return err
		}
		if err := r.bounded(img); err != nil {
			return err
		}
	}
	return nil
}

// bounded refuses an image that a component grew past the pixel limit
// (borders, shadows, rotations and padding grow the canvas after the
// geometry was checked).
func (r *runner) bounded(img *vips.Image) error {
	if int64(img.Width())*int64(img.Height()) > int64(r.maxPixels) {
		return tooLarge(img.Width(), img.Height(), r.maxPixels)
	}
	return nil
}

// layerEnd finds the fl_layer_apply component that closes the layer
// opened at i, or i itself for a layer written in a single component.
func layerEnd(comps []transform.Component, i int) int {
	if comps[i].Flags&transform.FlagLayerApply != 0 {
		return i
	}
	for j := i + 1; j < len(comps); j++ {
		if comps[j].Flags&transform.FlagLayerApply != 0 {
			return j
		}
		if comps[j].HasLayer() {
			break
		}
	}
	return i
}

// measure updates the expression environment's current size.
func (r *runner) measure(img *vips.Image) {
	r.env.W, r.env.H = float64(img.Width()), float64(img.Height())
}

func (r *runner) cond(img *vips.Image, expr string) (bool, error) {
	r.measure(img)
	if strings.Contains(expr, "fc") {
		faces, err := r.detect(img)
		if err != nil {
			return false, err
		}
		r.env.Faces = float64(len(faces))
	}
	return transform.EvalCond(expr, &r.env)
}

// detect finds faces on img, once per image state.
func (r *runner) detect(img *vips.Image) ([]image.Rectangle, error) {
	if r.facesOf == img && r.faces != nil {
		return r.faces, nil
	}
	found, err := detectFaces(img)
	if err != nil {
		return nil, err
	}
	r.faces = r.faces[:0]
	for _, f := range found {
		r.faces = append(r.faces, image.Rect(f.X, f.Y, f.X+f.W, f.Y+f.H))
	}
	r.facesOf = img
	return r.faces, nil
}

// forget drops detected faces after the image changed.
func (r *runner) forget() { r.facesOf = nil }

// focus is the box the face gravities aim at: the largest face for
// g_face, all faces for g_faces, or empty.
func (r *runner) focus(img *vips.Image, g transform.Gravity) (image.Rectangle, error) {
	if !g.Faces() {
		return image.Rectangle{}, nil
	}
	faces, err := r.detect(img)
	if err != nil || len(faces) == 0 {
		return image.Rectangle{}, err
	}
	if g == transform.GravityFace {
		return faces[0], nil
	}
	u := faces[0]
	for _, f := range faces[1:] {
		u = u.Union(f)
	}
	return u, nil
}

// component applies one component: its geometry, then effect, rounding,
// border, rotation and opacity, then the background for transparency.
func (r *runner) component(img *vips.Image, c *transform.Component, first bool) error {
	r.measure(img)
	if err := c.Resolve(&r.env); err != nil {
		return err
	}
	if err := autoRotate(img, c); err != nil {
		return err
	}
	dpr := 1.0
	if c.Has(transform.ParamDPR) && !c.DPR.Auto {
		dpr = c.DPR.V
	}
	var g geometry
	if first && r.first != nil {
		g = *r.first
	} else {
		focus, err := r.focus(img, c.Gravity)
		if err != nil {
			return err
		}
		if g, err = plan(img.Width(), img.Height(), c, r.maxPixels, focus); err != nil {
			return err
		}
	}
	if g.Scales(img.Width(), img.Height()) || g.Crop || g.Pad {
		r.resizes = append(r.resizes, g)
		r.forget()
	}
	if err := r.geometry(img, c, g); err != nil {
		return err
	}
	if c.Has(transform.ParamEffect) {
		if err := r.effect(img, c, dpr); err != nil {
			return err
		}
		r.forget()
	}
	if c.Has(transform.ParamRadius) {
		if err := fxRoundCorners(img, scaleRadius(c.Radius.Corners(), dpr), c.Radius.Max); err != nil {
			return err
		}
	}
	if c.Has(transform.ParamBorder) {
		if err := fxBorder(img, int(math.Round(float64(c.Border.Width)*dpr)), c.Border.Color); err != nil {
			return err
		}
		r.forget()
	}
	if err := rotate(img, c, r.maxPixels); err != nil {
		return err
	}
	if c.Has(transform.ParamAngle) {
		r.forget()
	}
	if c.Has(transform.ParamOpacity) {
		if err := fxOpacity(img, int(c.Opacity)); err != nil {
			return err
		}
	}
	if c.Has(transform.ParamBackground) {
		r.bg = c.Background.Color
		if img.HasAlpha() && c.Background.Mode == transform.BackgroundColor && c.Background.A == 255 {
			// b_ fills transparent areas.
			if err := img.Flatten(&vips.FlattenOptions{Background: rgb(c.Background.Color)}); err != nil {
				return vipsErr("flatten", err)
			}
		}
	}
	return nil
}

func scaleRadius(r [4]float64, dpr float64) [4]float64 {
	for i := range r {
		r[i] *= dpr
	}
	return r
}

// autoRotate applies a_auto_right / a_auto_left: a quarter turn before
// resizing, when the image's orientation does not match the box's.
func autoRotate(img *vips.Image, c *transform.Component) error {
	modes := c.Angle.Modes & (transform.AngleAutoRight | transform.AngleAutoLeft)
	if modes == 0 || !c.Has(transform.ParamWidth) || !c.Has(transform.ParamHeight) {
		return nil
	}
	w, h := c.Width.Resolve(img.Width()), c.Height.Resolve(img.Height())
	if w == h || img.Width() == img.Height() || (w > h) == (img.Width() > img.Height()) {
		return nil
	}
	angle := vips.AngleD90
	if modes&transform.AngleAutoLeft != 0 {
		angle = vips.AngleD270
	}
	return vipsErr("rotate", img.Rot(angle))
}

// geometry performs a planned resize, crop and pad.
func (r *runner) geometry(img *vips.Image, c *transform.Component, g geometry) error {
	if err := resize(img, g.ResizeW, g.ResizeH); err != nil {
		return err
	}
	if g.Crop {
		var err error
		if g.Smart {
			err = img.Smartcrop(g.CropW, g.CropH, &vips.SmartcropOptions{Interesting: vips.InterestingAttention})
		} else {
			err = img.ExtractArea(g.CropX, g.CropY, g.CropW, g.CropH)
		}
		if err != nil {
			return vipsErr("crop", err)
		}
	}
	if g.Pad {
		return r.pad(img, c, g)
	}
	return nil
}

// pad embeds img in the padded canvas, filled with b_'s colour, the
// image's own border colour (b_auto), or a blurred copy (b_blurred).
// Without b_ the padding is white, or transparent when the output can
// carry alpha and the image has it.
func (r *runner) pad(img *vips.Image, c *transform.Component, g geometry) error {
	bg := white
	if c.Has(transform.ParamBackground) {
		switch c.Background.Mode {
		case transform.BackgroundColor:
			bg = c.Background.Color
		case transform.BackgroundAuto, transform.BackgroundPredominant:
			col, err := borderColor(img, c.Background.Mode == transform.BackgroundPredominant)
			if err != nil {
				return err
			}
			bg = col
		case transform.BackgroundBlurred:
			return padBlurred(img, g, c.Background)
		}
	} else if img.HasAlpha() {
		bg = transform.Color{}
	}
	ink, err := inkFor(img, bg)
	if err != nil {
		return err
	}
	return vipsErr("pad", img.Embed(g.PadX, g.PadY, g.PadW, g.PadH, &vips.EmbedOptions{Extend: vips.ExtendBackground, Background: ink}))
}

// borderColor is the mean colour of the image's edge pixels (b_auto), or
// of the whole image (b_auto:predominant).
func borderColor(img *vips.Image, whole bool) (transform.Color, error) {
	cp, err := img.Copy(nil)
	if err != nil {
		return white, vipsErr("copy", err)
	}
	defer cp.Close()
	if cp.HasAlpha() {
		if err := cp.Flatten(&vips.FlattenOptions{Background: rgb(white)}); err != nil {
			return white, vipsErr("flatten", err)
		}
	}
	if cp.Bands() < 3 {
		if err := cp.Colourspace(vips.InterpretationSrgb, nil); err != nil {
			return white, vipsErr("colourspace", err)
		}
	}
	w, h := cp.Width(), cp.Height()
	var sum [3]float64
	n := 0.0
	add := func(x, y, cw, ch int) error {
		e, err := cp.Copy(nil)
		if err != nil {
			return err
		}
		defer e.Close()
		if err := e.ExtractArea(x, y, cw, ch); err != nil {
			return err
		}
		if err := e.Resize(1/float64(max(cw, ch)), &vips.ResizeOptions{Kernel: vips.KernelLinear}); err != nil {
			return err
		}
		px, err := e.Getpoint(0, 0)
		if err != nil || len(px) < 3 {
			return err
		}
		weight := float64(cw * ch)
		for i := range sum {
			sum[i] += px[i] * weight
		}
		n += weight
		return nil
	}
	var err2 error
	if whole {
		err2 = add(0, 0, w, h)
	} else {
		for _, e := range [][4]int{{0, 0, w, 1}, {0, h - 1, w, 1}, {0, 0, 1, h}, {w - 1, 0, 1, h}} {
			if err2 = add(e[0], e[1], e[2], e[3]); err2 != nil {
				break
			}
		}
	}
	if err2 != nil || n == 0 {
		return white, vipsErr("background", err2)
	}
	u8 := func(v float64) uint8 { return uint8(max(0, min(255, math.Round(v/n)))) }
	return transform.Color{R: u8(sum[0]), G: u8(sum[1]), B: u8(sum[2]), A: 255}, nil
}

// padBlurred fills the padding with a copy of the image scaled to cover
// the canvas, blurred and darkened or brightened (b_blurred:<blur>:<brightness>).
func padBlurred(img *vips.Image, g geometry, bg transform.Background) error {
	back, err := img.Copy(nil)
	if err != nil {
		return vipsErr("copy", err)
	}
	defer back.Close()
	s := math.Max(float64(g.PadW)/float64(img.Width()), float64(g.PadH)/float64(img.Height()))
	if err := resize(back, max(g.PadW, px(float64(img.Width())*s)), max(g.PadH, px(float64(img.Height())*s))); err != nil {
		return err
	}
	if err := back.ExtractArea((back.Width()-g.PadW)/2, (back.Height()-g.PadH)/2, g.PadW, g.PadH); err != nil {
		return vipsErr("crop", err)
	}
	if err := back.Gaussblur(math.Min(float64(bg.Blur)/10, 100), nil); err != nil {
		return vipsErr("blur", err)
	}
	if bg.Brightness != 0 {
		if err := fxBrightness(back, max(-99, bg.Brightness)); err != nil {
			return err
		}
	}
	opaque := !img.HasAlpha()
	if opaque {
		if err := addAlpha(img); err != nil {
			return err
		}
	}
	ink := make([]float64, img.Bands())
	if err := img.Embed(g.PadX, g.PadY, g.PadW, g.PadH, &vips.EmbedOptions{Extend: vips.ExtendBackground, Background: ink}); err != nil {
		return vipsErr("pad", err)
	}
	// The blurred copy goes under the image: "destination over".
	if err := img.Composite2(back, vips.BlendModeDestOver, nil); err != nil {
		return vipsErr("composite", err)
	}
	if opaque {
		return dropAlpha(img)
	}
	return nil
}

// dropAlpha removes the alpha band of an image known to be opaque.
func dropAlpha(img *vips.Image) error {
	if !img.HasAlpha() {
		return nil
	}
	return vipsErr("alpha", img.ExtractBand(0, &vips.ExtractBandOptions{N: img.Bands() - 1}))
}

// levelEffects are the effects that take the image and their level only.
var levelEffects = map[transform.EffectKind]func(*vips.Image, int) error{
	transform.EffectBlur:           fxBlur,
	transform.EffectSharpen:        fxSharpen,
	transform.EffectUnsharpMask:    fxUnsharpMask,
	transform.EffectSepia:          fxSepia,
	transform.EffectBrightness:     fxBrightness,
	transform.EffectContrast:       fxContrast,
	transform.EffectSaturation:     fxSaturation,
	transform.EffectGamma:          fxGamma,
	transform.EffectAutoContrast:   fxAutoContrast,
	transform.EffectAutoBrightness: fxAutoBrightness,
	transform.EffectAutoColor:      fxAutoColor,
	transform.EffectVignette:       fxVignette,
}

// effect runs c's e_ effect. Levels given in pixels scale with dpr.
func (r *runner) effect(img *vips.Image, c *transform.Component, dpr float64) error {
	e := c.Effect
	color := func(def transform.Color) transform.Color {
		if c.Has(transform.ParamColor) {
			return c.Color
		}
		return def
	}
	black := transform.Color{A: 255}
	if fx := levelEffects[e.Kind]; fx != nil {
		return fx(img, e.Level)
	}
	switch e.Kind {
	case transform.EffectGrayscale:
		return fxGrayscale(img)
	case transform.EffectNegate:
		return fxNegate(img)
	case transform.EffectImprove:
		return fxImprove(img, e.ModeName() == "indoor", e.Level)
	case transform.EffectPixelate:
		return fxPixelate(img, int(math.Round(float64(e.Level)*dpr)))
	case transform.EffectPixelateFaces, transform.EffectBlurFaces:
		faces, err := r.detect(img)
		if err != nil || len(faces) == 0 {
			return err
		}
		if e.Kind == transform.EffectBlurFaces {
			return fxBlurRegions(img, faces, e.Level)
		}
		return fxPixelateRegions(img, faces, int(math.Round(float64(e.Level)*dpr)))
	case transform.EffectTrim:
		var override *transform.Color
		if e.HasColor {
			override = &e.Color
		}
		return fxTrim(img, e.Level, override)
	case transform.EffectColorize:
		return fxColorize(img, e.Level, color(transform.Color{R: 128, G: 128, B: 128, A: 255}))
	case transform.EffectShadow:
		dx, dy := 8.0, 8.0
		if c.Has(transform.ParamX) {
			dx = c.X.Resolve(img.Width())
		}
		if c.Has(transform.ParamY) {
			dy = c.Y.Resolve(img.Height())
		}
		return fxShadow(img, e.Level, color(transform.Color{A: 255}), int(math.Round(dx*dpr)), int(math.Round(dy*dpr)))
	case transform.EffectOutline:
		return fxOutline(img, e.ModeName(), int(math.Round(float64(e.Level)*dpr)), e.Arg, color(black))
	}
	return clderr.BadRequest("Effect %s is not supported yet", e.Kind.Name())
}

// info is fl_getinfo's JSON: the input and output sizes, each resize and
// crop, and the faces found.
func (r *runner) info(in Info, w, h int, out format.Format) ([]byte, error) {
	type box struct {
		X      int `json:"x"`
		Y      int `json:"y"`
		Width  int `json:"width"`
		Height int `json:"height"`
	}
	type size struct {
		Width  int    `json:"width"`
		Height int    `json:"height"`
		Format string `json:"format,omitempty"`
	}
	doc := struct {
		Input  size  `json:"input"`
		Resize []box `json:"resize,omitempty"`
		Faces  []box `json:"faces,omitempty"`
		Output size  `json:"output"`
	}{
		Input:  size{Width: in.Width, Height: in.Height, Format: in.Format.Ext()},
		Output: size{Width: w, Height: h, Format: out.Ext()},
	}
	for _, g := range r.resizes {
		b := box{Width: g.ResizeW, Height: g.ResizeH}
		if g.Crop {
			b = box{X: g.CropX, Y: g.CropY, Width: g.CropW, Height: g.CropH}
		}
		doc.Resize = append(doc.Resize, b)
	}
	for _, f := range r.faces {
		doc.Faces = append(doc.Faces, box{X: f.Min.X, Y: f.Min.Y, Width: f.Dx(), Height: f.Dy()})
	}
	return json.Marshal(doc)
}
