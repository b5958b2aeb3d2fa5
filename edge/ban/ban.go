// Package ban is the edge's purge list, after Varnish's bans: a purge of
// an asset records when it happened, and a cached entry stored before
// that time is treated as a miss. Applying a purge costs the same
// whatever the cache holds, and covers every derivative, format and URL
// form of the asset at once.
package ban

import (
	"sync"
	"sync/atomic"
	"time"
)

// List maps asset hashes to the time of their latest purge.
type List struct {
	ttl   time.Duration // how long a ban must outlive the entries it covers
	count atomic.Int64  // lets the hit path skip the lock when there are no bans
	mu    sync.RWMutex
	bans  map[uint64]int64
}

// New returns a list whose bans expire after ttl, which must be at least
// the longest time an entry can stay cached.
func New(ttl time.Duration) *List {
	return &List{ttl: ttl, bans: map[uint64]int64{}}
}

// Add bans everything stored for asset before at.
func (l *List) Add(asset uint64, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at.UnixNano() > l.bans[asset] {
		l.bans[asset] = at.UnixNano()
	}
	// Expire old bans while holding the lock anyway; purges are rare.
	cutoff := time.Now().Add(-l.ttl).UnixNano()
	for k, t := range l.bans {
		if t < cutoff {
			delete(l.bans, k)
		}
	}
	l.count.Store(int64(len(l.bans)))
}

// Banned reports whether an entry of asset stored at stored (unix
// nanoseconds) was purged since.
func (l *List) Banned(asset uint64, stored int64) bool {
	if l.count.Load() == 0 {
		return false
	}
	l.mu.RLock()
	t, ok := l.bans[asset]
	l.mu.RUnlock()
	return ok && stored <= t
}
