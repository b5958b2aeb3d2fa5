// Package flight coalesces concurrent calls for the same key into one, as
// groupcache's singleflight does, with typed keys and values. A panic in
// the function becomes an error for every caller instead of a hang.
package flight

import (
	"fmt"
	"sync"
)

type call[V any] struct {
	wg  sync.WaitGroup
	val V
	err error
}

// Group runs at most one function per key at a time.
type Group[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*call[V]
}

// Do runs fn once for all callers that ask for key while it runs. shared
// is true for callers that waited on another caller's run.
func (g *Group[K, V]) Do(key K, fn func() (V, error)) (v V, err error, shared bool) {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[K]*call[V])
	}
	if c, ok := g.m[key]; ok {
		g.mu.Unlock()
		c.wg.Wait()
		return c.val, c.err, true
	}
	c := new(call[V])
	c.wg.Add(1)
	g.m[key] = c
	g.mu.Unlock()

	func() {
		defer func() {
			if r := recover(); r != nil {
				c.err = fmt.Errorf("flight: panic: %v", r)
			}
		}()
		c.val, c.err = fn()
	}()
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	c.wg.Done()
	return c.val, c.err, false
}
