package delivery

import (
	"path"
	"strconv"
	"strings"

	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
	"github.com/valyala/fasthttp"
)

// dprSteps are the ratios dpr_auto resolves to: a client's hint rounds up
// to the next step, so a handful of derivatives serve every screen.
var dprSteps = [...]float64{1, 1.5, 2, 3, 4}

// resolveDPR replaces each dpr_auto in ch with the client's device pixel
// ratio, from the Sec-CH-DPR or DPR client hint (1 without one). It
// reports whether the chain had a dpr_auto, so the response varies on
// those headers.
func resolveDPR(ch *transform.Chain, h *fasthttp.RequestHeader) bool {
	found := false
	for i := range ch.Components {
		c := &ch.Components[i]
		if !c.Has(transform.ParamDPR) || !c.DPR.Auto {
			continue
		}
		found = true
		c.DPR = transform.DPR{V: hintDPR(h)}
	}
	return found
}

func hintDPR(h *fasthttp.RequestHeader) float64 {
	v := peek(h, hSecCHDPR)
	if len(v) == 0 {
		v = peek(h, hDPR)
	}
	if len(v) == 0 || len(v) > 8 {
		return 1
	}
	f, err := strconv.ParseFloat(b2s(v), 64)
	if err != nil || !(f > 0) {
		return 1
	}
	for _, s := range dprSteps {
		if f <= s+1e-9 {
			return s
		}
	}
	return dprSteps[len(dprSteps)-1]
}

// vary is the Vary header for a response negotiated on Accept (f_auto)
// and/or client hints (dpr_auto). The values are constants: no allocation.
func vary(accept, hints bool) string {
	switch {
	case accept && hints:
		return "Accept, Sec-CH-DPR, DPR"
	case accept:
		return "Accept"
	case hints:
		return "Sec-CH-DPR, DPR"
	}
	return ""
}

// disposition is fl_attachment's Content-Disposition: the name given in
// the flag, else the public_id's last segment, with the delivered format's
// extension.
func disposition(ch *transform.Chain, r *urlapi.Request, contentType string) string {
	name := ""
	for i := range ch.Components {
		if a := ch.Components[i].Attachment; a != "" {
			name = a
		}
	}
	if name == "" {
		name = path.Base(r.PublicID)
	}
	if f := format.FromMIME(contentType); f != format.Unknown {
		name += "." + f.Ext()
	} else if r.Ext != "" {
		name += "." + r.Ext
	}
	return `attachment; filename="` + strings.NewReplacer(`"`, "", `\`, "", "\r", "", "\n", "").Replace(name) + `"`
}
