// Package forward is the edge's client for the origins' derive endpoint:
// a pool of origins, each derivative sent to the one rendezvous hashing
// gives it, with failover, health checks, per-attempt timeouts, pooled
// fasthttp connections, and requests signed with the shared peer secret.
package forward

import "time"

// Response is the origin's answer, copied out of fasthttp's buffers.
type Response struct {
	Status      int
	Body        []byte
	ContentType string
	ETag        string
	Version     string // the asset version the bytes belong to
	Error       string // X-Cld-Error
}

// Client is the name delivery.Config knows the origin client by: a Pool,
// so a pool of many origins fits where a single origin did.
type Client = Pool

// New returns a client for the one origin at addr (host:port): no
// failover, as there is nowhere to go, and no health checks unless
// Start is called.
func New(addr string, secret []byte, timeout time.Duration) *Client {
	return newPool([]string{addr}, PoolOptions{Secret: secret, Timeout: timeout}.withDefaults())
}
