// Package ban is the edge's purge list, after Varnish's bans: a purge
// records when it happened, and a cached entry stored before that time
// is treated as a miss (or, for a soft purge, as expired). Applying a
// purge costs the same whatever the cache holds, covers the RAM and disk
// tiers alike, and a ban only has to outlive the entries it may cover.
//
// A ban names an asset (every derivative, format and URL form of it), a
// variant (one delivery URL, in every negotiated format), a whole cloud,
// or every unversioned entry (what an edge drops when it may have missed
// purges).
package ban

import (
	"sync"
	"sync/atomic"
	"time"
)

// Verdict is what the bans say about an entry.
type Verdict uint8

const (
	Fresh Verdict = iota // no ban covers it
	Stale                // soft-purged: revalidate before serving it fresh
	Gone                 // purged: a miss
)

// Subject is what a ban is checked against: an entry's identity hashes,
// when it was stored, and whether its URL named the asset's version.
type Subject struct {
	Asset   uint64
	Variant uint64 // the delivery URL's identity, whatever the format negotiated
	Cloud   uint64
	Stored  int64 // unix nanoseconds
	// Versioned entries are immutable bytes: an edge that lost track of
	// purges keeps them.
	Versioned bool
}

type stamp struct {
	hard, soft int64 // unix nanoseconds of the latest hard and soft ban; 0 for none
}

func (s stamp) verdict(stored int64) Verdict {
	switch {
	case stored <= s.hard:
		return Gone
	case stored <= s.soft:
		return Stale
	}
	return Fresh
}

func (s *stamp) add(at int64, soft bool) {
	if soft {
		s.soft = max(s.soft, at)
	} else {
		s.hard = max(s.hard, at)
	}
}

func (s stamp) latest() int64 { return max(s.hard, s.soft) }

// List holds the bans.
type List struct {
	ttl   time.Duration // how long a ban must outlive the entries it covers
	count atomic.Int64  // lets the hit path skip the lock when there are no bans
	mu    sync.RWMutex
	kinds [3]map[uint64]stamp // by Kind
	// unversioned bans every entry not Versioned stored before it.
	unversioned int64
	lastExpire  time.Time
}

// expireEvery spaces the scans for expired bans.
const expireEvery = time.Second

// len counts the bans held; the caller holds mu.
func (l *List) len() int {
	n := 0
	for _, m := range l.kinds {
		n += len(m)
	}
	if l.unversioned != 0 {
		n++
	}
	return n
}

// Kind is what a ban's hash identifies.
type Kind uint8

const (
	Asset Kind = iota
	Variant
	Cloud
)

// New returns a list whose bans expire after ttl, which must be at least
// the longest time an entry can stay cached.
func New(ttl time.Duration) *List {
	l := &List{ttl: ttl}
	for i := range l.kinds {
		l.kinds[i] = map[uint64]stamp{}
	}
	return l
}

// Add bans what h identifies, stored before at: for a hard ban a miss,
// for a soft one a revalidation.
func (l *List) Add(kind Kind, h uint64, at time.Time, soft bool) {
	now := time.Now()
	if at.Before(now.Add(-l.ttl)) {
		return // everything it covers has expired already (a replayed purge)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.kinds[kind][h]
	s.add(at.UnixNano(), soft)
	l.kinds[kind][h] = s
	l.expire(now)
}

// DropUnversioned bans every entry stored before at whose URL did not
// name the asset's version.
func (l *List) DropUnversioned(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unversioned = max(l.unversioned, at.UnixNano())
	l.expire(time.Now())
}

// expire forgets bans older than the ttl; the caller holds mu. The scan
// runs at most once per expireEvery, so that a burst of purges (an edge
// replaying the stream) costs linear time, not quadratic.
func (l *List) expire(now time.Time) {
	if now.Sub(l.lastExpire) < expireEvery {
		l.count.Store(int64(l.len()))
		return
	}
	l.lastExpire = now
	cutoff := now.Add(-l.ttl).UnixNano()
	n := 0
	for _, m := range l.kinds {
		for k, s := range m {
			if s.latest() < cutoff {
				delete(m, k)
			}
		}
		n += len(m)
	}
	if l.unversioned < cutoff {
		l.unversioned = 0
	} else {
		n++
	}
	l.count.Store(int64(n))
}

// Len is the number of bans held; a nil list holds none.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return int(l.count.Load())
}

// Check says whether a ban covers the entry e describes. With no bans it
// is one atomic load.
func (l *List) Check(e *Subject) Verdict {
	if l == nil || l.count.Load() == 0 {
		return Fresh
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !e.Versioned && e.Stored <= l.unversioned {
		return Gone
	}
	v := Fresh
	for kind, h := range [...]uint64{Asset: e.Asset, Variant: e.Variant, Cloud: e.Cloud} {
		m := l.kinds[kind]
		if len(m) == 0 {
			continue
		}
		if s, ok := m[h]; ok {
			v = max(v, s.verdict(e.Stored))
		}
	}
	return v
}
