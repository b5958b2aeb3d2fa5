package forward

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outcome classifies one attempt on one origin.
type outcome int

const (
	outcomeOK          outcome = iota // 200
	outcomeAnswered                   // any other final answer: 4xx, 500
	outcomeBusy                       // 429: render queue full
	outcomeUnavailable                // 502, 503, 504
	outcomeTimeout
	outcomeTransport // could not connect, or the connection broke
	outcomeSaturated // no free connection to the origin on this edge
	outcomeTooLarge
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	"ok", "answered", "busy", "unavailable", "timeout", "transport", "saturated", "too_large",
}

// metrics are a pool's collectors. They exist unregistered when there is
// no Registerer, so the hot path never checks.
//
// The attempt histogram is not named refract_edge_origin_duration_seconds:
// delivery already registers that name, unlabelled, for whole fetches
// (failovers included), and one registry cannot hold both.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	failovers prometheus.Counter
	up        *upCollector
}

func newMetrics(p *Pool) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refract_edge_origin_requests_total", Help: "Derive attempts by origin and outcome.",
		}, []string{"origin", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "refract_edge_origin_attempt_duration_seconds", Help: "Latency of one derive attempt on one origin.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"origin"}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refract_edge_origin_failovers_total", Help: "Derive attempts made on an origin other than the first choice.",
		}),
		up: &upCollector{p: p, desc: prometheus.NewDesc(
			"refract_edge_origin_up", "Whether the origin is admitted (1) or ejected (0).", []string{"origin"}, nil)},
	}
	// Resolved once: label lookups would cost every attempt.
	for _, o := range p.origins {
		for k := range o.outcomes {
			o.outcomes[k] = m.requests.WithLabelValues(o.addr, outcomeNames[k])
		}
		o.duration = m.duration.WithLabelValues(o.addr)
	}
	return m
}

// register adds the collectors to reg, all or none.
func (m *metrics) register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{m.requests, m.duration, m.failovers, m.up}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("forward: metrics: %w", err)
		}
	}
	return nil
}

// upCollector reports admission as of each scrape: an ejection ends by
// time alone, which no event would record in a gauge.
type upCollector struct {
	p    *Pool
	desc *prometheus.Desc
}

func (c *upCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *upCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now().UnixNano()
	for _, o := range c.p.origins {
		v := 0.0
		if o.admitted(now) {
			v = 1
		}
		if m, err := prometheus.NewConstMetric(c.desc, prometheus.GaugeValue, v, o.addr); err == nil {
			ch <- m
		}
	}
}
