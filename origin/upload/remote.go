package upload

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/safehttp"
)

// stageRemote fetches rawURL through c, which refuses internal
// addresses, and stages the body as stage does. The file name is the
// URL path's last segment, for use_filename. The effective size cap is
// the smaller of max and c's Policy.MaxBytes.
func (req *request) stageRemote(ctx context.Context, c *safehttp.Client, rawURL, tmpDir string, max int64) error {
	resp, err := c.Get(ctx, rawURL)
	if err != nil {
		return remoteError(rawURL, err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > max {
		return tooLarge(resp.ContentLength, max)
	}
	if u, err := url.Parse(rawURL); err == nil {
		if base := path.Base(u.Path); base != "." && base != "/" {
			req.filename = base // u.Path is unescaped
		}
	}
	// stage folds read errors into its own message; keep the original
	// so that a timeout or the client's cap reads as what it was.
	body := &readErr{r: resp.Body}
	if err := req.stage(body, tmpDir, max); err != nil {
		if body.err != nil {
			return remoteError(rawURL, body.err)
		}
		return err
	}
	return nil
}

// remoteError words a failed fetch as Cloudinary does: "Error in loading
// <url> - <reason>", a 400. Reasons are fixed strings, never the
// underlying error, which may name internal addresses or resolvers.
func remoteError(rawURL string, err error) error {
	var tl *safehttp.TooLargeError
	var se *safehttp.StatusError
	var dns *net.DNSError
	reason := "Connection failed"
	switch {
	case errors.As(err, &tl):
		if tl.Size >= 0 {
			return tooLarge(tl.Size, tl.Limit)
		}
		return clderr.BadRequest("File size too large. Maximum is %d.", tl.Limit)
	case errors.As(err, &se):
		reason = http.StatusText(se.Code)
		if reason == "" {
			reason = "Unexpected status"
		}
		return clderr.BadRequest("Error in loading %s - %d %s", shownURL(rawURL), se.Code, reason)
	case errors.Is(err, safehttp.ErrForbiddenAddress):
		reason = "Forbidden address"
	case errors.Is(err, safehttp.ErrForbiddenURL):
		reason = "Invalid URL: only http and https URLs without credentials can be loaded"
	case errors.Is(err, safehttp.ErrTooManyRedirects):
		reason = "Too many redirects"
	case errors.Is(err, safehttp.ErrTimeout):
		reason = "timeout"
	case errors.Is(err, context.Canceled):
		reason = "Request canceled" // the client went away: not a server fault
	case errors.As(err, &dns):
		reason = "Host not found"
	}
	return clderr.BadRequest("Error in loading %s - %s", shownURL(rawURL), reason)
}

// shownURL is rawURL as an error message may echo it: without a
// password, and short enough for a header.
func shownURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		rawURL = u.Redacted()
	}
	const max = 256
	if len(rawURL) > max {
		rawURL = rawURL[:max] + "..."
	}
	return rawURL
}

// readErr remembers the first read error other than EOF.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
