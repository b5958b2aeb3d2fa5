// Package urlapi parses Cloudinary delivery URLs into a typed Request:
//
//	/<cloud>/<resource_type>/<type>/[s--SIG--/][<tx>/…][v<version>/]<public_id>[.<ext>]
//
// plus the shortened (iu) and SEO-suffix (images, files, …) forms. It does
// not allocate on success unless the public_id has escapes to decode.
package urlapi

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/sign"
	"github.com/refract-cdn/refract/shared/transform"
)

// ResourceType is the kind of asset.
type ResourceType uint8

const (
	Image ResourceType = iota + 1
	Raw
	Video
)

var resourceTypeNames = [...]string{Image: "image", Raw: "raw", Video: "video"}

func (r ResourceType) String() string { return resourceTypeNames[r%4] }

// ParseResourceType maps "image", "raw" or "video" to a ResourceType.
func ParseResourceType(s string) (ResourceType, bool) {
	for i, n := range resourceTypeNames {
		if n != "" && n == s {
			return ResourceType(i), true
		}
	}
	return 0, false
}

// Type is the delivery type.
type Type uint8

const (
	Upload Type = iota + 1
	Private
	Authenticated
	// Fetch delivers a remote image: its "public_id" is the image's URL.
	// No upload has this type; ParseType refuses it.
	Fetch
)

var typeNames = [...]string{Upload: "upload", Private: "private", Authenticated: "authenticated", Fetch: "fetch"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return ""
}

// ParseDeliveryType is ParseType plus fetch, which only delivery URLs
// (and the derive requests made from them) may name.
func ParseDeliveryType(s string) (Type, bool) {
	if s == "fetch" {
		return Fetch, true
	}
	return ParseType(s)
}

// ParseType maps the name of a type an asset can be stored as to a Type.
func ParseType(s string) (Type, bool) {
	switch s { // typeNames, as a switch: it is on the hit path
	case "upload":
		return Upload, true
	case "private":
		return Private, true
	case "authenticated":
		return Authenticated, true
	}
	return 0, false
}

// MaxPublicID is Cloudinary's limit on a public_id's length; maxSegment
// keeps each folder or name, plus a store's suffix, under the 255 bytes
// a file name may have.
const (
	MaxPublicID = 255
	maxSegment  = 240
)

// Request is a parsed delivery URL. Its strings point into the parsed
// path, so it is valid only as long as the path is.
type Request struct {
	Cloud        string
	ResourceType ResourceType
	Type         Type
	Signature    string // the SIG of s--SIG--, or ""
	Tx           string // the transformation segments as written, or ""
	Version      string // the digits of v<version>, or ""
	PublicID     string // decoded, without the extension for images
	Ext          string // the extension, lower case, or ""
	Suffix       string // an SEO suffix: not part of the asset's identity
}

// Format is the format the extension names, or format.Unknown.
func (r *Request) Format() format.Format {
	if r.Ext == "" {
		return format.Unknown
	}
	return format.FromExt(r.Ext)
}

// AppendToSign appends the string the URL's signature covers to b: the
// transformation as written, then the public_id and extension, decoded.
func (r *Request) AppendToSign(b []byte) []byte {
	n := len(b)
	if r.Tx != "" {
		b = append(b, r.Tx...)
		b = append(b, '/')
	}
	b = append(b, r.PublicID...)
	if r.Ext != "" {
		b = append(b, '.')
		b = append(b, r.Ext...)
	}
	for _, c := range b[n:] {
		if c == '%' {
			return append(b[:n], sign.DecodeFully(string(b[n:]))...)
		}
	}
	return b
}

// Parse reads a delivery path (as sent, percent-encoded, without the query)
// into r. Errors are *clderr.Error with Cloudinary's statuses.
func Parse(path string, r *Request) error {
	*r = Request{}
	if len(path) < 2 || path[0] != '/' {
		return errNotFound
	}
	rest := path[1:]
	var seg string
	seg, rest = next(rest)
	if !validCloud(seg) {
		return errNotFound
	}
	r.Cloud = seg
	return parseAfterCloud(rest, r)
}

// ParseHost reads a path that omits the cloud, as on a private CDN or
// CNAME host mapped to cloud by configuration. There a path that does
// not start with a resource type is a root-path URL, image/upload
// implied, and /favicon.ico is the cloud's root asset "favicon".
func ParseHost(cloud, path string, r *Request) error {
	*r = Request{}
	if len(path) < 2 || path[0] != '/' {
		return errNotFound
	}
	r.Cloud = cloud
	if path == "/favicon.ico" {
		r.ResourceType, r.Type, r.PublicID = Image, Upload, "favicon"
		return nil
	}
	if first, _ := next(path[1:]); !rootWord(first) {
		r.ResourceType, r.Type = Image, Upload
		return parseTail(path[1:], r, false)
	}
	return parseAfterCloud(path[1:], r)
}

// rootWord reports whether a first segment names a resource type (or a
// shortened or SEO form of one), rather than starting a root-path URL.
func rootWord(seg string) bool {
	switch seg {
	case "image", "raw", "video", "iu", "images", "private_images", "authenticated_images", "files", "videos":
		return true
	}
	return false
}

var (
	errNotFound = clderr.NotFound("Resource not found")
	errVideo    = clderr.New(501, "Video delivery is not supported")
	// errBadSignature answers a malformed s--SIG-- segment.
	errBadSignature = clderr.Unauthorized("Invalid signature")
)

func parseAfterCloud(rest string, r *Request) error {
	var seg string
	seg, rest = next(rest)
	seo := false
	switch seg {
	case "image":
		r.ResourceType = Image
	case "raw":
		r.ResourceType = Raw
	case "video":
		return errVideo
	case "iu":
		r.ResourceType, r.Type = Image, Upload
	case "images":
		r.ResourceType, r.Type, seo = Image, Upload, true
	case "private_images":
		r.ResourceType, r.Type, seo = Image, Private, true
	case "authenticated_images":
		r.ResourceType, r.Type, seo = Image, Authenticated, true
	case "files":
		r.ResourceType, r.Type, seo = Raw, Upload, true
	case "videos":
		return errVideo
	case "":
		return errNotFound
	default:
		return clderr.BadRequest("Invalid resource type - %s", seg)
	}
	if r.Type == 0 {
		seg, rest = next(rest)
		t, ok := ParseDeliveryType(seg)
		if !ok {
			return clderr.BadRequest("Invalid delivery type - %s", seg)
		}
		r.Type = t
		if t == Fetch {
			if r.ResourceType != Image {
				return clderr.BadRequest("Fetch delivery is for images only")
			}
			return parseFetch(rest, r)
		}
	}
	return parseTail(rest, r, seo)
}

// parseTail reads what follows the delivery type: the signature, the
// transformation, the version and the public_id.
func parseTail(rest string, r *Request, seo bool) error {
	rest, err := parseSignature(rest, r)
	if err != nil {
		return err
	}
	if rest == "" {
		return errNotFound
	}
	var id string
	r.Tx, r.Version, id = split(rest)
	if seo {
		i := strings.LastIndexByte(id, '/')
		if i <= 0 || i == len(id)-1 {
			return clderr.BadRequest("Invalid SEO URL: the suffix needs a public_id before it")
		}
		r.Suffix = id[i+1:]
		id = id[:i]
		if r.ResourceType == Image {
			if dot := strings.LastIndexByte(r.Suffix, '.'); dot >= 0 {
				r.Ext = r.Suffix[dot+1:]
				r.Suffix = r.Suffix[:dot]
			}
		}
	} else if r.ResourceType == Image {
		// The extension follows the last '.', if no '/' does and it is
		// not the first byte: one backward scan, which stops at either.
		for dot := len(id) - 1; dot > 0 && id[dot] != '/'; dot-- {
			if id[dot] == '.' {
				if f := format.FromExt(id[dot+1:]); f != format.Unknown && f != format.Auto {
					r.Ext, id = id[dot+1:], id[:dot]
				}
				break
			}
		}
	}
	pid, err := decodeID(id)
	if err != nil {
		return err
	}
	r.PublicID = pid
	// Only an SEO suffix's extension is unchecked by now.
	if seo && r.Ext != "" && format.FromExt(r.Ext) == format.Unknown {
		return clderr.BadRequest("Invalid extension - %s", r.Ext)
	}
	return nil
}

// parseSignature reads a leading s--SIG-- segment into r.Signature and
// returns what follows it.
func parseSignature(rest string, r *Request) (string, error) {
	if len(rest) <= 4 || rest[:3] != "s--" {
		return rest, nil
	}
	seg, tail := next(rest)
	if len(seg) < 5 || seg[len(seg)-2:] != "--" {
		return "", errBadSignature
	}
	r.Signature = seg[3 : len(seg)-2]
	if n := len(r.Signature); n != sign.ShortLen && n != sign.LongLen {
		return "", errBadSignature
	}
	return tail, nil
}

// split cuts rest (what follows the delivery type and signature) into
// the transformation, the version digits and the public_id.
//
// With a v<digits> segment that is not last, everything before it is the
// transformation. Without one, leading segments shaped like
// transformation components are, as long as one segment is left over.
func split(rest string) (tx, version, id string) {
	for i := 0; ; {
		seg, tail := next(rest[i:])
		if tail == "" {
			break
		}
		if isVersion(seg) {
			return rest[:max(i-1, 0)], seg[1:], tail
		}
		i += len(seg) + 1
	}
	end := 0
	for {
		seg, tail := next(rest[end:])
		if tail == "" || !transform.LooksLikeComponent(seg) {
			break
		}
		end += len(seg) + 1
	}
	if end == 0 {
		return "", "", rest
	}
	return rest[:end-1], "", rest[end:]
}

func isVersion(seg string) bool {
	if len(seg) < 2 || len(seg) > 21 || seg[0] != 'v' {
		return false
	}
	for i := 1; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return true
}

func next(s string) (seg, rest string) {
	// A plain loop: segments are short, and IndexByte's setup costs
	// more than it saves on them.
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func validCloud(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !cloudByte[s[i]] {
			return false
		}
	}
	return true
}

// cloudByte is what a cloud name is made of: ASCII letters, digits, '-'
// and '_'.
var cloudByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	return t
}()

// decodeID undoes the SDKs' escaping of a public_id (percent escapes, and
// "+" for a space) and refuses ids no store should see.
func decodeID(id string) (string, error) {
	if plainID(id) {
		return id, nil // the common case, checked in one pass
	}
	if strings.ContainsAny(id, "%+") {
		d, err := url.QueryUnescape(id)
		if err != nil {
			return "", clderr.BadRequest("Invalid public_id encoding")
		}
		id = d
	}
	if err := ValidatePublicID(id); err != nil {
		return "", err
	}
	return id, nil
}

// plainID reports whether id is a valid public_id made of printable
// ASCII only, with nothing to decode, no segment that starts with a dot
// and no more than maxSegment bytes: ValidatePublicID's checks in one
// pass, for the hit path. Other ids take the slow path, which also says
// what is wrong with them.
func plainID(id string) bool {
	if id == "" || len(id) > maxSegment || id[len(id)-1] == '/' {
		return false
	}
	var bad uint8
	prev := byte('/') // the id starts a segment
	for i := 0; i < len(id); i++ {
		c := id[i]
		bad |= notPlain[c]
		// An empty segment, or one that may be "." or "..".
		if prev == '/' && (c == '/' || c == '.') {
			return false
		}
		prev = c
	}
	return bad == 0
}

// notPlain is 1 for the bytes plainID refuses: all but printable ASCII,
// the characters a public_id may not have, and '%' and '+', which
// decodeID would decode.
var notPlain = func() (t [256]uint8) {
	for c := range t {
		if c < 0x20 || c >= 0x7f || strings.ContainsRune(`?#\<>%&+`, rune(c)) {
			t[c] = 1
		}
	}
	return t
}()

// ValidatePublicID refuses public_ids that are empty, too long, or could
// escape a storage namespace: empty, "." or ".." folders, a leading or
// trailing "/", control characters, and Cloudinary's forbidden characters.
func ValidatePublicID(id string) error {
	if id == "" {
		return errNotFound
	}
	if len(id) > MaxPublicID {
		return clderr.BadRequest("public_id is too long")
	}
	if id[0] == '/' || id[len(id)-1] == '/' {
		return clderr.BadRequest("Invalid public_id - %s", id)
	}
	// Keys are UTF-8, and U+10FFFF is what listings use to skip past
	// every key with a given start.
	if !utf8.ValidString(id) || strings.Contains(id, "\U0010FFFF") {
		return clderr.BadRequest("Invalid public_id - not valid UTF-8 text")
	}
	for rest := id; rest != ""; {
		var seg string
		seg, rest = next(rest)
		if seg == "" || seg == "." || seg == ".." {
			return clderr.BadRequest("Invalid public_id - %s", id)
		}
		if len(seg) > maxSegment {
			return clderr.BadRequest("public_id is too long")
		}
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c < 0x20 || c == 0x7f:
			return clderr.BadRequest("Invalid public_id - control characters are not allowed")
		case c == '?' || c == '#' || c == '\\' || c == '<' || c == '>' || c == '%' || c == '&' || c == '+':
			return clderr.BadRequest("Invalid public_id - %s", id)
		}
	}
	return nil
}

// Path is the delivery path of one version of an asset:
// /<cloud>/<rt>/<type>/[<tx>/]v<version>/<public_id>[.<ext>], each
// public_id segment percent-encoded, as API responses give url and
// secure_url.
func Path(cloud, rt, typ, tx string, version int64, publicID, ext string) string {
	var b strings.Builder
	b.WriteString("/" + cloud + "/" + rt + "/" + typ + "/")
	if tx != "" {
		b.WriteString(tx + "/")
	}
	b.WriteString("v" + strconv.FormatInt(version, 10))
	for _, seg := range strings.Split(publicID, "/") {
		b.WriteString("/" + url.PathEscape(seg))
	}
	if ext != "" {
		b.WriteString("." + ext)
	}
	return b.String()
}
