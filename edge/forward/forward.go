// Package forward is the edge's client for the origin's derive endpoint:
// pooled fasthttp connections, per-request timeouts, and requests signed
// with the shared peer secret.
package forward

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/peerauth"
)

// Client talks to one origin.
type Client struct {
	addr    string
	hc      *fasthttp.HostClient
	secret  []byte
	timeout time.Duration
}

// New returns a client for the origin at addr (host:port).
func New(addr string, secret []byte, timeout time.Duration) *Client {
	return &Client{
		addr:    addr,
		secret:  secret,
		timeout: timeout,
		hc: &fasthttp.HostClient{
			Addr:                addr,
			MaxConns:            256,
			MaxIdleConnDuration: 30 * time.Second,
			ReadTimeout:         timeout,
			WriteTimeout:        timeout,
			MaxResponseBodySize: 256 << 20,
		},
	}
}

// Response is the origin's answer, copied out of fasthttp's buffers.
type Response struct {
	Status      int
	Body        []byte
	ContentType string
	ETag        string
	Version     string // the asset version the bytes belong to
	Error       string // X-Cld-Error
}

// Derive asks the origin for spec. A transport failure is a 502 with a
// clear message; it never leaks the origin's address to the client.
func (c *Client) Derive(spec *derivative.Spec) (Response, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	uri := derivative.Endpoint + "?" + spec.Query()
	req.SetRequestURI(uri)
	req.SetHost(c.addr)
	req.Header.Set(peerauth.Header, peerauth.Sign(c.secret, "GET", uri, time.Now()))
	if err := c.hc.DoTimeout(req, resp, c.timeout); err != nil {
		return Response{}, clderr.New(fasthttp.StatusBadGateway, "Origin unavailable")
	}
	return Response{
		Status:      resp.StatusCode(),
		Body:        append([]byte(nil), resp.Body()...),
		ContentType: string(resp.Header.ContentType()),
		ETag:        string(resp.Header.Peek("ETag")),
		Version:     string(resp.Header.Peek(derivative.HeaderVersion)),
		Error:       string(resp.Header.Peek("X-Cld-Error")),
	}, nil
}
