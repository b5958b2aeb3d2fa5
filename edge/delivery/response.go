package delivery

import (
	"bytes"
	"strings"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Response header keys in the form fasthttp normalises keys to, so that
// SetCanonical stores them as they are and Peek finds them.
var (
	hXCache       = headerKey("X-Cache")
	hServerTiming = headerKey(fasthttp.HeaderServerTiming)
	hCacheControl = headerKey(fasthttp.HeaderCacheControl)
	hETag         = headerKey(fasthttp.HeaderETag)
	hAllowOrigin  = headerKey(fasthttp.HeaderAccessControlAllowOrigin)
	hTimingOrigin = headerKey(fasthttp.HeaderTimingAllowOrigin)
	hVary         = headerKey(fasthttp.HeaderVary)
	hDisposition  = headerKey(fasthttp.HeaderContentDisposition)
	hCldError     = headerKey("X-Cld-Error")
	hAge          = headerKey(fasthttp.HeaderAge)
	hAcceptRanges = headerKey(fasthttp.HeaderAcceptRanges)
)

// Request header keys, likewise, for peek.
var (
	hAccept      = headerKey(fasthttp.HeaderAccept)
	hIfNoneMatch = headerKey(fasthttp.HeaderIfNoneMatch)
	hRange       = headerKey(fasthttp.HeaderRange)
	hIfRange     = headerKey(fasthttp.HeaderIfRange)
	hSecCHDPR    = headerKey("Sec-CH-DPR")
	hDPR         = headerKey("DPR")
)

func headerKey(k string) []byte { return fasthttp.AppendNormalizedHeaderKey(nil, k) }

// peek returns a request header's value, or nil. key must be in the
// normal form fasthttp stores parsed keys in (headerKey): Peek would copy
// and normalise it again on every call.
func peek(h *fasthttp.RequestHeader, key []byte) []byte {
	h.DisableNormalizing()
	v := h.PeekBytes(key)
	h.EnableNormalizing() // fasthttp's default, which Refract's servers keep
	return v
}

// Fixed header values, rendered once per outcome.
var (
	star       = []byte("*")
	bytesUnit  = []byte("bytes")
	noStore    = []byte("no-store")
	xCacheHit  = []byte("HIT")
	xCacheMiss = []byte("MISS")
	// STALE: served past its freshness, by stale-while-revalidate or
	// stale-if-error.
	xCacheStale = []byte("STALE")
	timingStale = []byte("cdn-cache;desc=STALE")
	// timingHit is Server-Timing on a hit. A miss adds origin;dur=, the
	// milliseconds it waited for the origin.
	timingHit = []byte("cdn-cache;desc=HIT")
)

// s2b views s as bytes without copying, for fasthttp calls that copy
// what they are given and never write to it.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// headerValue makes a value safe to write as it is, as fasthttp's Set
// would on every response: CR and LF become spaces.
func headerValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return v
}

// rangeResult is what a Range header asks of a body.
type rangeResult uint8

const (
	rangeIgnored       rangeResult = iota // send the whole body
	rangeSatisfiable                      // send [start, end]
	rangeUnsatisfiable                    // 416
)

// byteRange reads a Range header against a body of size bytes:
// bytes=a-b, bytes=a- or bytes=-n. A header it cannot read, or one that
// asks for several ranges, is ignored, and the whole body is sent, as
// RFC 9110 (14.2) allows: multipart/byteranges answers are not worth
// their cost for images.
func byteRange(spec []byte, size int) (start, end int, res rangeResult) {
	const unit = "bytes="
	if len(spec) < len(unit) || !strings.EqualFold(b2s(spec[:len(unit)]), unit) {
		return 0, 0, rangeIgnored
	}
	spec = bytes.TrimSpace(spec[len(unit):])
	dash := bytes.IndexByte(spec, '-')
	if dash < 0 || bytes.IndexByte(spec, ',') >= 0 {
		return 0, 0, rangeIgnored
	}
	first, last := bytes.TrimSpace(spec[:dash]), bytes.TrimSpace(spec[dash+1:])
	if len(first) == 0 {
		// bytes=-n: the last n bytes.
		n, ok := digits(last)
		switch {
		case !ok:
			return 0, 0, rangeIgnored
		case n == 0 || size == 0:
			return 0, 0, rangeUnsatisfiable
		}
		return max(0, size-n), size - 1, rangeSatisfiable
	}
	a, ok := digits(first)
	if !ok {
		return 0, 0, rangeIgnored
	}
	b := size - 1 // bytes=a-: to the end
	if len(last) > 0 {
		if b, ok = digits(last); !ok || b < a {
			return 0, 0, rangeIgnored // an invalid range-spec
		}
	}
	if a >= size {
		return 0, 0, rangeUnsatisfiable
	}
	return a, min(b, size-1), rangeSatisfiable
}

// digits reads a non-empty run of ASCII digits. Values past 2^53 are
// clamped: no body is that large, and it keeps the arithmetic safe.
func digits(b []byte) (int, bool) {
	const limit = 1 << 53
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int(c-'0'), limit)
	}
	return n, true
}

// ifRange reports whether a Range header applies under If-Range (RFC
// 9110 13.1.5): always without one, else only if it is the entry's ETag,
// compared strongly. A date never matches, as entries send no
// Last-Modified.
func ifRange(header []byte, etag string) bool {
	if len(header) == 0 {
		return true
	}
	return string(header) == etag && !strings.HasPrefix(etag, "W/")
}
