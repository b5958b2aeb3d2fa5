// Package safehttp is an HTTP client for URLs chosen by users (remote
// uploads, fetch delivery) that cannot be turned against the network it
// runs in (SSRF).
//
// Addresses are checked when a connection is dialled, on the IP the name
// resolved to, for every redirect hop: a name like "localhost", a name
// resolving to 10.x and DNS rebinding are refused like IP literals. A
// refused address is never connected to. Proxies from the environment
// are ignored, because the proxy would be dialled instead of the target.
//
// Refused unless Policy.Allow lists them: loopback, private (RFC 1918,
// fc00::/7), link-local (169.254/16 with cloud metadata, fe80::/10),
// CGNAT 100.64/10, 0/8, unspecified, multicast, broadcast and the other
// special-purpose ranges, and IPv6 forms that embed one of those
// (IPv4-mapped, NAT64, 6to4). Only http and https URLs without userinfo
// are fetched. Any port is allowed: the address check is what protects
// internal services, and origins on non-default ports are legitimate.
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Defaults for a zero Policy field.
const (
	DefaultMaxBytes     = 100 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 5
)

var (
	// ErrForbiddenAddress means the URL's host is, or resolved to, an
	// address the policy refuses.
	ErrForbiddenAddress = errors.New("safehttp: forbidden address")
	// ErrForbiddenURL means the URL is malformed, not http(s), has no
	// host or carries userinfo.
	ErrForbiddenURL = errors.New("safehttp: forbidden URL")
	// ErrTooLarge is matched by *TooLargeError.
	ErrTooLarge = errors.New("safehttp: response too large")
	// ErrTooManyRedirects means the redirect limit was reached.
	ErrTooManyRedirects = errors.New("safehttp: too many redirects")
	// ErrTimeout means Policy.Timeout or the caller's deadline passed.
	ErrTimeout = errors.New("safehttp: timeout")
	// ErrStatus is matched by *StatusError.
	ErrStatus = errors.New("safehttp: unexpected status")
)

// StatusError is a response that was not 2xx.
type StatusError struct {
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("safehttp: status %d %s", e.Code, http.StatusText(e.Code))
}

// Is makes errors.Is(err, ErrStatus) hold.
func (e *StatusError) Is(target error) bool { return target == ErrStatus }

// TooLargeError is a response over the byte limit.
type TooLargeError struct {
	Size  int64 // the declared Content-Length, or -1 when the body ran past Limit
	Limit int64
}

func (e *TooLargeError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("safehttp: response larger than %d bytes", e.Limit)
	}
	return fmt.Sprintf("safehttp: response of %d bytes is over the limit of %d", e.Size, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) hold.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Policy says what a Client may fetch. Zero fields take the defaults.
type Policy struct {
	// Allow lists addresses permitted even though they would be refused,
	// such as 127.0.0.1/32 in tests or an internal origin.
	Allow []netip.Prefix
	// MaxBytes caps a response body.
	MaxBytes int64
	// Timeout bounds a whole fetch: dials, redirects and the body.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed; negative follows none.
	MaxRedirects int
	// UserAgent is sent with every request.
	UserAgent string
}

// Client fetches URLs under a Policy. It is safe for concurrent use and
// keeps connections alive between calls, so make one and share it.
type Client struct {
	p  Policy
	hc *http.Client
}

// NewClient returns a Client enforcing p.
func NewClient(p Policy) *Client {
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxBytes
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxRedirects == 0 {
		p.MaxRedirects = DefaultMaxRedirects
	}
	if p.UserAgent == "" {
		p.UserAgent = "Refract"
	}
	p.Allow = append([]netip.Prefix(nil), p.Allow...)
	c := &Client{p: p}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: c.control}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		// The bytes stored must be the origin's bytes, and a body is
		// capped as it arrives rather than after inflating.
		DisableCompression: true,
	}
	c.hc = &http.Client{Transport: tr, Timeout: p.Timeout, CheckRedirect: c.checkRedirect}
	return c
}

// HTTP is the guarded *http.Client itself, for requests other than GET
// (webhook POSTs). The address checks and redirect limit apply; the
// response size cap does not, so read its bodies bounded.
func (c *Client) HTTP() *http.Client { return c.hc }

// CheckURL parses rawURL and refuses what no policy fetches: other
// schemes than http and https, a missing host, userinfo.
func CheckURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForbiddenURL, err)
	}
	return u, checkURL(u)
}

func checkURL(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: scheme %q", ErrForbiddenURL, u.Scheme)
	case u.User != nil:
		// Credentials in URLs end up in logs and error messages.
		return fmt.Errorf("%w: userinfo", ErrForbiddenURL)
	case u.Hostname() == "":
		return fmt.Errorf("%w: no host", ErrForbiddenURL)
	}
	return nil
}

// Get fetches rawURL. On success the response is 2xx and its Body, which
// the caller must close, fails with a *TooLargeError past MaxBytes;
// resp.Request.URL is the URL after redirects.
func (c *Client) Get(ctx context.Context, rawURL string) (*http.Response, error) {
	u, err := CheckURL(rawURL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForbiddenURL, err)
	}
	req.Header.Set("User-Agent", c.p.UserAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, mapErr(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, &StatusError{Code: resp.StatusCode}
	}
	if resp.ContentLength > c.p.MaxBytes {
		resp.Body.Close()
		return nil, &TooLargeError{Size: resp.ContentLength, Limit: c.p.MaxBytes}
	}
	resp.Body = &cappedBody{rc: resp.Body, max: c.p.MaxBytes}
	return resp, nil
}

// Fetch streams rawURL's body into w and returns the bytes written and
// the response's Content-Type.
func (c *Client) Fetch(ctx context.Context, rawURL string, w io.Writer) (n int64, contentType string, err error) {
	resp, err := c.Get(ctx, rawURL)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	n, err = io.Copy(w, resp.Body)
	return n, resp.Header.Get("Content-Type"), err
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > c.p.MaxRedirects {
		return ErrTooManyRedirects
	}
	return checkURL(req.URL)
}

// control runs after the socket is made and before it connects, with
// the address the name resolved to.
func (c *Client) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
	}
	if !c.p.allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

func (p *Policy) allowed(a netip.Addr) bool {
	a = a.WithZone("") // Prefix.Contains never matches a zoned address
	for _, pf := range p.Allow {
		if pf.Contains(a) || pf.Contains(a.Unmap()) {
			return true
		}
	}
	return !forbidden(a)
}

// denied are the special-purpose ranges netip.Addr has no method for.
var denied = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),  // documentation
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"), // reserved and broadcast
	netip.MustParsePrefix("::/96"),       // IPv4-compatible, deprecated
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),  // discard
	netip.MustParsePrefix("2001::/32"), // Teredo
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fec0::/10"), // site-local, deprecated
}

// Ranges whose addresses carry an IPv4 address a gateway will reach.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

func forbidden(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() ||
		a.IsLinkLocalUnicast() || a.IsMulticast() {
		return true
	}
	for _, pf := range denied {
		if pf.Contains(a) {
			return true
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return forbidden(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return forbidden(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return false
}

// mapErr marks timeouts; other errors keep their chain, so errors.Is
// finds the sentinels through *url.Error and *net.OpError.
func mapErr(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// cappedBody fails once more than max bytes arrive, and marks timeouts.
type cappedBody struct {
	rc  io.ReadCloser
	n   int64
	max int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.n > b.max {
		return 0, &TooLargeError{Size: -1, Limit: b.max}
	}
	// One byte past the limit tells a body of exactly max from a larger one.
	if room := b.max - b.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		return n - int(b.n-b.max), &TooLargeError{Size: -1, Limit: b.max}
	}
	if err != nil && err != io.EOF {
		err = mapErr(err)
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
