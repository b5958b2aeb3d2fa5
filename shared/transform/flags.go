package transform

import "strings"

// Flags is the set of fl_ flags.
type Flags uint32

const (
	FlagProgressive Flags = 1 << iota
	FlagLossy
	FlagPreserveTransparency
	FlagPNG8
	FlagStripProfile
	FlagKeepIPTC
	FlagAnimated
	FlagAWebP
	FlagAttachment
	FlagGetInfo
	FlagImmutableCache
	FlagLayerApply
	FlagRelative
	FlagIgnoreAspectRatio
	FlagNoOverflow
	FlagKeepAttribution
	FlagForceStrip
)

// flagNames is in canonical (alphabetical) order.
var flagNames = [...]struct {
	f    Flags
	name string
}{
	{FlagAnimated, "animated"}, {FlagAttachment, "attachment"}, {FlagAWebP, "awebp"},
	{FlagForceStrip, "force_strip"}, {FlagGetInfo, "getinfo"},
	{FlagIgnoreAspectRatio, "ignore_aspect_ratio"}, {FlagImmutableCache, "immutable_cache"},
	{FlagKeepAttribution, "keep_attribution"}, {FlagKeepIPTC, "keep_iptc"},
	{FlagLayerApply, "layer_apply"}, {FlagLossy, "lossy"}, {FlagNoOverflow, "no_overflow"},
	{FlagPNG8, "png8"}, {FlagPreserveTransparency, "preserve_transparency"},
	{FlagProgressive, "progressive"}, {FlagRelative, "relative"},
	{FlagStripProfile, "strip_profile"},
}

// unsupportedFlags are Cloudinary flags Refract does not implement yet;
// they get a clear refusal rather than "Invalid flag".
var unsupportedFlags = []string{
	"alternate", "any_format", "apng", "clip", "clip_evenodd", "cutter", "draco",
	"force_icc", "hlsv3", "mono", "no_stream", "rasterize", "region_relative",
	"sanitize", "splice", "streaming_attachment", "text_disallow_overflow",
	"text_no_trim", "tiff8_lzw", "tiled", "truncate_ts", "waveform",
}

// maxAttachmentName bounds fl_attachment:<name>.
const maxAttachmentName = 200

func parseFlags(c *Component, v string) bool {
	var f Flags
	c.Attachment = ""
	for rest := v; ; {
		part, tail, more := strings.Cut(rest, ".")
		if name, ok := strings.CutPrefix(part, "attachment:"); ok {
			if !validFileName(name) {
				return false
			}
			f |= FlagAttachment
			c.Attachment = name
		} else {
			found := false
			for _, n := range flagNames {
				if n.name == part {
					f |= n.f
					found = true
				}
			}
			if !found {
				return false
			}
		}
		if !more {
			break
		}
		rest = tail
	}
	c.Flags = f
	return true
}

// validFileName accepts a download name: letters, digits, '-' and '_'.
func validFileName(s string) bool {
	if s == "" || len(s) > maxAttachmentName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func writeFlags(b []byte, c *Component) []byte {
	n := len(b)
	for _, f := range flagNames {
		if c.Flags&f.f != 0 {
			if len(b) > n {
				b = append(b, '.')
			}
			b = append(b, f.name...)
			if f.f == FlagAttachment && c.Attachment != "" {
				b = append(b, ':')
				b = append(b, c.Attachment...)
			}
		}
	}
	return b
}
