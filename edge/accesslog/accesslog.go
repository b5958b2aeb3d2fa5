// Package accesslog writes the edge's structured access log: one JSON
// object per line, for a random sample of requests plus, optionally,
// every error. Requests not sampled cost one random number.
package accesslog

import (
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Logger samples and writes access log lines.
type Logger struct {
	w         io.Writer
	threshold uint64 // a request is sampled when a random uint64 is below it
	all       bool
	errors    bool
	mu        sync.Mutex
	buf       []byte
}

// New logs a fraction sample (0 to 1) of requests to w, and every 4xx
// and 5xx when errors is set. It returns nil, which logs nothing, when
// there is nothing to log.
func New(w io.Writer, sample float64, errors bool) *Logger {
	if w == nil || (sample <= 0 && !errors) {
		return nil
	}
	l := &Logger{w: w, errors: errors, all: sample >= 1}
	if sample > 0 && sample < 1 {
		l.threshold = uint64(sample * math.MaxUint64)
	}
	return l
}

// Sample decides, before a request is served, whether it is logged
// whatever its outcome. It allocates nothing and takes no lock.
func (l *Logger) Sample() bool {
	return l != nil && (l.all || rand.Uint64() < l.threshold)
}

// Done logs a served request if it was sampled, or failed and errors
// are logged. cache is the outcome (the X-Cache value).
func (l *Logger) Done(ctx *fasthttp.RequestCtx, sampled bool, cache []byte) {
	if l == nil {
		return
	}
	status := ctx.Response.StatusCode()
	if !sampled && !(l.errors && status >= 400) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = Append(l.buf[:0], ctx, time.Now(), cache)
	l.w.Write(l.buf)
}

// Append appends ctx's log line, ending in '\n', to b.
func Append(b []byte, ctx *fasthttp.RequestCtx, now time.Time, cache []byte) []byte {
	h := &ctx.Request.Header
	b = append(b, `{"ts":"`...)
	b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","ip":"`...)
	if ip, ok := netip.AddrFromSlice(ctx.RemoteIP()); ok {
		b = ip.Unmap().AppendTo(b)
	}
	b = append(b, `","method":`...)
	b = appendString(b, h.Method())
	b = append(b, `,"host":`...)
	b = appendString(b, h.Host())
	b = append(b, `,"uri":`...)
	b = appendString(b, h.RequestURI())
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(ctx.Response.StatusCode()), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(len(ctx.Response.Body())), 10)
	b = append(b, `,"cache":`...)
	b = appendString(b, cache)
	b = append(b, `,"ms":`...)
	b = strconv.AppendFloat(b, float64(now.Sub(ctx.Time()).Microseconds())/1000, 'f', -1, 64)
	if e := ctx.Response.Header.Peek("X-Cld-Error"); len(e) > 0 {
		b = append(b, `,"error":`...)
		b = appendString(b, e)
	}
	if v := h.Referer(); len(v) > 0 {
		b = append(b, `,"referer":`...)
		b = appendString(b, v)
	}
	if v := h.UserAgent(); len(v) > 0 {
		b = append(b, `,"ua":`...)
		b = appendString(b, v)
	}
	return append(b, "}\n"...)
}

// appendString appends s as a JSON string. Bytes that are not UTF-8
// become U+FFFD, so a hostile header cannot break the line's JSON.
func appendString(b []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for len(s) > 0 {
		c := s[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			s = s[1:]
			continue
		}
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[:n]...)
		}
		s = s[n:]
	}
	return append(b, '"')
}
