package forward

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Active health checks. The origin has no health route on its API
// listener, and its ops listener (/readyz) is on a port the edge is not
// told; so the check is a HEAD on derivative.Endpoint, which the origin
// refuses with 405 before any authentication or storage work. Any answer
// but 502/503/504 means alive and re-admits the origin at once; no
// answer counts as a failure, like a failed request.

// healthTimeout bounds one check: an origin slower than this to refuse a
// HEAD is in no state to render.
const healthTimeout = 2 * time.Second

// Start runs health checks every HealthInterval, the first at once,
// until ctx ends or Close is called. Calling it again does nothing.
func (p *Pool) Start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.stop != nil {
		return
	}
	ctx, p.stop = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go p.healthLoop(ctx, p.done)
}

// Close stops the health checks, waiting for any under way, and closes
// idle connections. Requests still work after it, unchecked.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	stop, done := p.stop, p.done
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	for _, o := range p.origins {
		o.hc.CloseIdleConnections()
	}
}

func (p *Pool) healthLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(p.opts.HealthInterval)
	defer t.Stop()
	for {
		p.checkAll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkAll checks every origin at once: a hanging one must not delay
// the verdict on the others.
func (p *Pool) checkAll() {
	var wg sync.WaitGroup
	for _, o := range p.origins {
		wg.Go(func() { p.check(o) })
	}
	wg.Wait()
}

func (p *Pool) check(o *origin) {
	req := fasthttp.AcquireRequest()
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.Header.SetMethod(fasthttp.MethodHead)
	req.SetRequestURI(p.opts.HealthPath)
	req.SetHost(o.addr)
	err := o.hc.DoTimeout(req, res, min(p.opts.Timeout, healthTimeout))
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		// Every connection is busy with requests, which judge it themselves.
	case err != nil || unavailable(res.StatusCode()):
		o.failed(time.Now().UnixNano(), int32(p.opts.EjectAfter), p.opts.EjectFor)
	default:
		o.answered()
	}
}
