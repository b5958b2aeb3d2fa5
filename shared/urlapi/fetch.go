package urlapi

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/transform"
)

// MaxFetchURL bounds the remote URL of a fetch delivery.
const MaxFetchURL = 2048

var errFetchURL = clderr.BadRequest("Invalid fetch URL: expected an http or https URL after the transformation")

// parseFetch reads what follows image/fetch/: an optional signature,
// transformation segments, then the remote URL, as written or
// percent-encoded whole (https%3A%2F%2F…). The URL is the request's
// PublicID; Ext stays empty, since the output is the remote image's
// format unless f_ says otherwise.
func parseFetch(rest string, r *Request) error {
	rest, err := parseSignature(rest, r)
	if err != nil {
		return err
	}
	end := 0
	for !hasScheme(rest[end:]) {
		seg, tail := next(rest[end:])
		if tail == "" || !transform.LooksLikeComponent(seg) {
			return errFetchURL
		}
		end += len(seg) + 1
	}
	if end > 0 {
		r.Tx = rest[:end-1]
	}
	u, err := fetchURL(rest[end:])
	if err != nil {
		return err
	}
	r.PublicID = u
	return nil
}

// hasScheme reports whether s starts with http: or https:, plain or
// with the colon percent-encoded.
func hasScheme(s string) bool {
	l := strings.ToLower(s[:min(len(s), 8)])
	return strings.HasPrefix(l, "http:") || strings.HasPrefix(l, "https:") ||
		strings.HasPrefix(l, "http%3a") || strings.HasPrefix(l, "https%3a")
}

// fetchURL turns the URL part of a fetch path into the remote URL: an
// encoded one is decoded, and a "//" that a proxy folded into "/" is
// restored.
func fetchURL(s string) (string, error) {
	if l := strings.ToLower(s[:min(len(s), 8)]); strings.HasPrefix(l, "http%3a") || strings.HasPrefix(l, "https%3a") {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", clderr.BadRequest("Invalid fetch URL encoding")
		}
		s = d
	}
	scheme, rest, _ := strings.Cut(s, ":")
	if !strings.HasPrefix(rest, "//") {
		s = strings.ToLower(scheme) + "://" + strings.TrimLeft(rest, "/")
	}
	return s, ValidateFetchURL(s)
}

// ValidateFetchURL checks a remote URL as fetch delivery takes it: http
// or https, with a host, of bounded length, and UTF-8 without control
// characters. Which hosts may be fetched is the cloud's setting.
func ValidateFetchURL(s string) error {
	if len(s) > MaxFetchURL {
		return clderr.New(414, "Fetch URL is too long")
	}
	if !utf8.ValidString(s) {
		return errFetchURL
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return errFetchURL
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return errFetchURL
	}
	return nil
}
