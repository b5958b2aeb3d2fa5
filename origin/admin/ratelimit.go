package admin

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultRateLimit is the requests per cloud per hour when Config leaves
// it at 0.
const DefaultRateLimit = 5000

// limiter is a per-cloud budget of requests per clock hour, as
// Cloudinary's Admin API has. It is in memory, per node: a fleet of n
// nodes allows up to n budgets.
type limiter struct {
	budget int
	now    func() time.Time

	mu     sync.Mutex
	clouds map[string]*window
}

type window struct {
	start time.Time
	used  int
}

// take spends one request of cloud's budget and sets the rate-limit
// headers; false means the budget is spent.
func (l *limiter) take(cloud string, h http.Header) bool {
	return l.do(cloud, h, true)
}

// show sets the headers without spending anything.
func (l *limiter) show(cloud string, h http.Header) { l.do(cloud, h, false) }

func (l *limiter) do(cloud string, h http.Header, spend bool) bool {
	now := l.now().UTC()
	start := now.Truncate(time.Hour)
	l.mu.Lock()
	w := l.clouds[cloud]
	used := 0
	if w != nil && w.start.Equal(start) {
		used = w.used
	}
	ok := used < l.budget
	if spend && ok {
		if w == nil {
			w = &window{}
			l.clouds[cloud] = w
		}
		if !w.start.Equal(start) {
			w.start, w.used = start, 0
		}
		w.used++
		used = w.used
	}
	remaining := l.budget - used
	l.mu.Unlock()
	h.Set("X-FeatureRateLimit-Limit", strconv.Itoa(l.budget))
	h.Set("X-FeatureRateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	h.Set("X-FeatureRateLimit-Reset", start.Add(time.Hour).Format(http.TimeFormat))
	return ok
}
