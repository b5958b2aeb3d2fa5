// Package bus carries invalidations from the origins that publish them to
// every edge. A single binary uses the in-process Local bus; a fleet uses
// NATS JetStream behind the same interface.
package bus

import (
	"context"
	"sync"
	"time"
)

// Purge says that cached deliveries of an asset made before At are stale.
type Purge struct {
	Cloud        string    `json:"cloud"`
	ResourceType string    `json:"resource_type"`
	Type         string    `json:"type"`
	PublicID     string    `json:"public_id"`
	At           time.Time `json:"at"`
}

// Bus publishes purges to all subscribers.
type Bus interface {
	Publish(ctx context.Context, p Purge) error
	// Subscribe calls fn for every purge published after it returns,
	// until cancel is called.
	Subscribe(fn func(Purge)) (cancel func())
}

// Local is an in-process Bus: Publish calls each subscriber before it
// returns, so a purge is applied by the time the API answers.
type Local struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(Purge)
}

// NewLocal returns an empty in-process bus.
func NewLocal() *Local { return &Local{subs: map[int]func(Purge){}} }

// Publish delivers p to every subscriber.
func (l *Local) Publish(ctx context.Context, p Purge) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, fn := range l.subs {
		fn(p)
	}
	return nil
}

// Subscribe registers fn.
func (l *Local) Subscribe(fn func(Purge)) (cancel func()) {
	l.mu.Lock()
	id := l.next
	l.next++
	l.subs[id] = fn
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.subs, id)
		l.mu.Unlock()
	}
}
