package forward

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// origin is one member of a pool: its connections and whether it is
// ejected. Failures from requests and from health checks share one
// count, so either can eject it and any answer re-admits it.
type origin struct {
	addr string
	hc   *fasthttp.HostClient

	fails        atomic.Int32
	ejectedUntil atomic.Int64 // unix nanoseconds; in the past when admitted

	outcomes [numOutcomes]prometheus.Counter
	duration prometheus.Observer
}

// dialTimeout bounds connecting, so that an origin whose packets are
// dropped leaves time within the request's own timeout to fail over.
const dialTimeout = 3 * time.Second

func newOrigin(addr string, timeout time.Duration, maxConns int) *origin {
	return &origin{
		addr: addr,
		hc: &fasthttp.HostClient{
			Addr:                addr,
			MaxConns:            maxConns,
			MaxIdleConnDuration: 30 * time.Second,
			ReadTimeout:         timeout,
			WriteTimeout:        timeout,
			MaxResponseBodySize: 256 << 20,
			DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
				return fasthttp.DialTimeout(addr, min(timeout, dialTimeout))
			},
		},
	}
}

// admitted reports whether the origin is not serving an ejection at now.
// Once the cool-down ends it is tried again; its count stays at the
// threshold, so one more failure ejects it again at once.
func (o *origin) admitted(now int64) bool { return o.ejectedUntil.Load() <= now }

// failed counts a failure and ejects the origin at the threshold.
func (o *origin) failed(now int64, after int32, cool time.Duration) {
	if o.fails.Add(1) >= after {
		o.fails.Store(after) // bounded, however long it stays down
		o.ejectedUntil.Store(now + int64(cool))
	}
}

// answered records that the origin answered: it is alive.
func (o *origin) answered() {
	// Loads first: the hot path's success should not write shared lines.
	if o.fails.Load() != 0 {
		o.fails.Store(0)
	}
	if o.ejectedUntil.Load() != 0 {
		o.ejectedUntil.Store(0)
	}
}
