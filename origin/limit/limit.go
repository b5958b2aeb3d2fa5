// Package limit bounds concurrent CPU-heavy work (renders, upload probes):
// a fixed number run, a bounded number wait, and the rest are refused at
// once so that overload turns into fast 429s instead of unbounded queues.
package limit

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrBusy means the queue is full.
var ErrBusy = errors.New("limit: too many requests in flight")

// Limiter admits Slots concurrent holders and Queue waiters.
type Limiter struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64
}

// New returns a Limiter running slots at once with up to queue waiting.
func New(slots, queue int) *Limiter {
	return &Limiter{slots: make(chan struct{}, max(1, slots)), maxQueue: int64(max(0, queue))}
}

// Acquire takes a slot, waiting in the queue if there is room. The
// returned function releases the slot.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	default:
	}
	if l.waiting.Add(1) > l.maxQueue {
		l.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Limiter) release() { <-l.slots }

// InUse is the number of slots taken.
func (l *Limiter) InUse() int { return len(l.slots) }

// Waiting is the number of callers queued.
func (l *Limiter) Waiting() int { return int(l.waiting.Load()) }
