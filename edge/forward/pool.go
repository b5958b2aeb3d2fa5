package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/peerauth"
)

// PoolOptions configures a Pool. Zero values take the defaults shown.
type PoolOptions struct {
	Secret  []byte        // peerauth secret shared with the origins
	Timeout time.Duration // one attempt on one origin, connecting included (30s)
	// HealthPath is probed with HEAD on each origin's API listener
	// (derivative.Endpoint, which answers 405 at once without work).
	HealthPath     string
	HealthInterval time.Duration // between active health checks (2s)
	EjectAfter     int           // consecutive failures that eject an origin (3)
	EjectFor       time.Duration // how long an ejection lasts, unless a health check ends it (10s)
	// MaxConnsPerOrigin bounds this edge's connections to each origin (256).
	MaxConnsPerOrigin int
	Registerer        prometheus.Registerer
}

func (o PoolOptions) withDefaults() PoolOptions {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.HealthPath == "" {
		o.HealthPath = derivative.Endpoint
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = 2 * time.Second
	}
	if o.EjectAfter <= 0 {
		o.EjectAfter = 3
	}
	if o.EjectFor <= 0 {
		o.EjectFor = 10 * time.Second
	}
	if o.MaxConnsPerOrigin <= 0 {
		o.MaxConnsPerOrigin = 256
	}
	return o
}

// Pool sends each derive request to the origin that rendezvous hashing
// gives its derivative, so that every edge asks the same origin and the
// origin's coalescing renders it once; it fails over along the same
// order when that origin is down.
type Pool struct {
	origins  []*origin
	hrw      rendezvous
	opts     PoolOptions
	attempts int
	m        *metrics

	mu     sync.Mutex
	closed bool
	stop   context.CancelFunc
	done   chan struct{}
}

// NewPool returns a pool of the origins at addrs (host:port, the API
// listener). Every edge must name the origins alike: the names are what
// is hashed. Health checks run once Start is called.
func NewPool(addrs []string, opts PoolOptions) (*Pool, error) {
	if len(addrs) == 0 {
		return nil, errors.New("forward: no origins")
	}
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("forward: origin %q: %w", a, err)
		}
		if seen[a] {
			return nil, fmt.Errorf("forward: origin %q listed twice", a)
		}
		seen[a] = true
	}
	p := newPool(addrs, opts.withDefaults())
	if opts.Registerer != nil {
		if err := p.m.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func newPool(addrs []string, opts PoolOptions) *Pool {
	p := &Pool{
		hrw:      newRendezvous(addrs),
		opts:     opts,
		attempts: min(len(addrs), maxAttempts),
	}
	for _, a := range addrs {
		p.origins = append(p.origins, newOrigin(a, opts.Timeout, opts.MaxConnsPerOrigin))
	}
	p.m = newMetrics(p)
	return p
}

var (
	errUnavailable = clderr.New(fasthttp.StatusBadGateway, "Origin unavailable")
	errTooLarge    = clderr.New(fasthttp.StatusBadGateway, "Origin response too large")
)

// Derive asks the origins for spec: the first admitted one in its
// rendezvous order, then the next on a failure, up to three. Ejected
// origins come after every admitted one rather than never, so a pool
// whose origins are all ejected still tries. When no origin answered,
// the error is a 502 that never names an origin.
func (p *Pool) Derive(spec *derivative.Spec) (Response, error) {
	var order [maxAttempts]int
	n := p.candidates(routeKey(spec), time.Now().UnixNano(), &order)
	uri := derivative.Endpoint + "?" + spec.Query()
	var last Response
	answered := false
	for a, i := range order[:n] {
		if a > 0 {
			p.m.failovers.Inc()
		}
		resp, next, err := p.try(p.origins[i], uri)
		switch {
		case err != nil:
			return Response{}, err
		case !next:
			return resp, nil
		case resp.Status != 0:
			last, answered = resp, true
		}
	}
	if answered {
		// The origins' own refusal (busy, storage down) says more than ours.
		return last, nil
	}
	return Response{}, errUnavailable
}

// candidates fills order with the origins to try for key: admitted ones
// in rendezvous order, then ejected ones in rendezvous order.
func (p *Pool) candidates(key uint64, now int64, order *[maxAttempts]int) int {
	in, out := ranking{k: p.attempts}, ranking{k: p.attempts}
	for i, o := range p.origins {
		s := p.hrw.score(key, i)
		if o.admitted(now) {
			in.offer(&p.hrw, i, s)
		} else {
			out.offer(&p.hrw, i, s)
		}
	}
	n := copy(order[:p.attempts], in.idx[:in.n])
	return n + copy(order[n:p.attempts], out.idx[:out.n])
}

// try makes one attempt on o. next says to fail over; resp.Status is 0
// when the origin gave no answer. What fails over:
//
//   - no answer (refused, reset, timed out), and 502/503/504: the origin
//     or its storage is down here; these count towards ejection;
//   - 429, the origin's render queue is full: it rendered nothing, so the
//     next origin rendering is not a second render, and its slots are its
//     own. It is alive, so it is not a failure. Under load everywhere this
//     multiplies cheap refusals by at most three;
//   - no free connection on this edge: a local limit, not the origin's
//     failure.
//
// Any other answer, 4xx and 500 included, is final: another origin would
// say the same.
func (p *Pool) try(o *origin, uri string) (resp Response, next bool, err error) {
	req := fasthttp.AcquireRequest()
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI(uri)
	req.SetHost(o.addr)
	req.Header.Set(peerauth.Header, peerauth.Sign(p.opts.Secret, "GET", uri, time.Now()))
	start := time.Now()
	doErr := o.hc.DoTimeout(req, res, p.opts.Timeout)
	end := time.Now()
	o.duration.Observe(end.Sub(start).Seconds())
	if doErr != nil {
		switch {
		case errors.Is(doErr, fasthttp.ErrNoFreeConns):
			o.outcomes[outcomeSaturated].Inc()
		case errors.Is(doErr, fasthttp.ErrBodyTooLarge):
			// The same bytes would be too large from any origin.
			o.outcomes[outcomeTooLarge].Inc()
			return Response{}, false, errTooLarge
		case isTimeout(doErr):
			o.outcomes[outcomeTimeout].Inc()
			o.failed(end.UnixNano(), int32(p.opts.EjectAfter), p.opts.EjectFor)
		default:
			o.outcomes[outcomeTransport].Inc()
			o.failed(end.UnixNano(), int32(p.opts.EjectAfter), p.opts.EjectFor)
		}
		return Response{}, true, nil
	}
	resp = Response{
		Status:      res.StatusCode(),
		Body:        append([]byte(nil), res.Body()...),
		ContentType: string(res.Header.ContentType()),
		ETag:        string(res.Header.Peek("ETag")),
		Version:     string(res.Header.Peek(derivative.HeaderVersion)),
		Error:       string(res.Header.Peek("X-Cld-Error")),
	}
	switch {
	case unavailable(resp.Status):
		o.outcomes[outcomeUnavailable].Inc()
		o.failed(end.UnixNano(), int32(p.opts.EjectAfter), p.opts.EjectFor)
		return resp, true, nil
	case resp.Status == fasthttp.StatusTooManyRequests:
		o.outcomes[outcomeBusy].Inc()
		o.answered()
		return resp, true, nil
	case resp.Status == fasthttp.StatusOK:
		o.outcomes[outcomeOK].Inc()
	default:
		o.outcomes[outcomeAnswered].Inc()
	}
	o.answered()
	return resp, false, nil
}

// unavailable reports the statuses that say the origin cannot serve now.
func unavailable(status int) bool {
	return status == fasthttp.StatusBadGateway || status == fasthttp.StatusServiceUnavailable ||
		status == fasthttp.StatusGatewayTimeout
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
