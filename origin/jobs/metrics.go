package jobs

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	enqueued, succeeded, failed, dead *prometheus.CounterVec
	inFlight                          prometheus.Gauge
}

func newMetrics(r prometheus.Registerer) metrics {
	vec := func(name, help string) *prometheus.CounterVec {
		return register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"kind"}))
	}
	return metrics{
		enqueued:  vec("refract_jobs_enqueued_total", "Jobs enqueued by this node, by kind."),
		succeeded: vec("refract_jobs_succeeded_total", "Jobs that succeeded on this node, by kind."),
		failed:    vec("refract_jobs_failed_total", "Failed job attempts on this node, by kind."),
		dead:      vec("refract_jobs_dead_total", "Jobs this node moved to the dead letters, by kind."),
		inFlight: register(r, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "refract_jobs_in_flight", Help: "Jobs running on this node.",
		})),
	}
}

// register shares an already registered collector, so that two queues on
// one registry (tests, or one per store) count together instead of
// panicking.
func register[C prometheus.Collector](r prometheus.Registerer, c C) C {
	if r == nil {
		return c
	}
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
