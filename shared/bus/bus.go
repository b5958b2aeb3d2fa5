// Package bus carries invalidations from the origins that publish them to
// every edge. A single binary uses the in-process Local bus; a fleet uses
// NATS JetStream behind the same interface.
package bus

import (
	"context"
	"sync"
	"time"
)

// Purge says that cached deliveries made before At are stale. It names
// one of: every entry of the cloud (All), one delivery URL in every
// format negotiated for it (URL), or assets, with every derivative,
// format and URL form of each (PublicID and PublicIDs, of ResourceType
// and Type).
type Purge struct {
	Cloud        string   `json:"cloud"`
	ResourceType string   `json:"resource_type,omitempty"`
	Type         string   `json:"type,omitempty"`
	PublicID     string   `json:"public_id,omitempty"`
	PublicIDs    []string `json:"public_ids,omitempty"` // more assets in one message
	// URL is a delivery URL: a path (/<cloud>/image/upload/…) or a full
	// URL, whose host may be one of the cloud's CNAMEs.
	URL string `json:"url,omitempty"`
	All bool   `json:"all,omitempty"`
	// Soft marks entries stale, to be revalidated, instead of dropping them.
	Soft bool      `json:"soft,omitempty"`
	At   time.Time `json:"at"`
}

// IDs lists the assets a purge names.
func (p *Purge) IDs() []string {
	if p.PublicID == "" {
		return p.PublicIDs
	}
	return append([]string{p.PublicID}, p.PublicIDs...)
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
