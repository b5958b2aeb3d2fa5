// Package cache is the edge's RAM tier: ristretto sized in bytes, holding
// whole responses. Entries are found by a 64-bit hash but carry their
// full key, which every hit compares, so a hash collision is a miss and
// never another image's bytes.
package cache

import (
	"bytes"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Entry is a cached response. It is immutable once stored. Its string
// fields are written to responses as they are, on every hit, so they
// must be valid header values: no CR or LF.
type Entry struct {
	Key          []byte // the derivative's identity (derivative.AppendKey)
	Body         []byte
	ContentType  string
	ETag         string
	CacheControl string
	Vary         string // "" or the Vary header value
	Disposition  string // Content-Disposition, for fl_attachment
	Error        string // X-Cld-Error on a success: a d_ default image was delivered
	Asset        uint64 // hash of the asset identity, for purges
	Stored       int64  // unix nanoseconds
	// Expires ends the entry's freshness (unix nanoseconds); after it the
	// entry may still be served stale within the edge's stale windows.
	Expires int64
	// Status is 0 for a 200; a negative-cached 404 carries 404 and Error.
	Status int
	// refreshing is set by the one request that revalidates a stale entry.
	refreshing atomic.Bool
}

// overhead approximates an entry's bookkeeping beyond its bytes.
const overhead = 256

// Cost is what e counts against the cache's size.
func (e *Entry) Cost() int64 { return int64(len(e.Body)+len(e.Key)) + overhead }

// Cache is a byte-bounded RAM cache.
type Cache struct {
	c *ristretto.Cache[uint64, *Entry]
}

// New returns a cache holding at most maxBytes of entries.
func New(maxBytes int64) (*Cache, error) {
	// Ten counters per expected entry, assuming entries of ~16 KiB.
	counters := max(100_000, 10*maxBytes/(16<<10))
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *Entry]{
		NumCounters: counters,
		MaxCost:     maxBytes,
		// Gets are batched per P before ristretto's policy goroutine
		// counts them, and the Get that fills a batch wakes that
		// goroutine: a futex call that costs ~15 µs on a VM. Batches of
		// 1024 rather than the usual 64 do that a sixteenth as often;
		// the admission policy gets the same counts, only later.
		BufferItems:        1024,
		IgnoreInternalCost: true,
		// No ristretto metrics: nothing reads them, and each Get would
		// pay an atomic add on a counter that every core serving the
		// same hot key writes to.
		Metrics: false,
	})
	if err != nil {
		return nil, err
	}
	return &Cache{c: c}, nil
}

// Get returns the entry for key (hashed as h), or nil.
func (c *Cache) Get(h uint64, key []byte) *Entry {
	e, ok := c.c.Get(h)
	if !ok || !bytes.Equal(e.Key, key) {
		return nil
	}
	return e
}

// Set stores e under h for ttl (0: until evicted) and waits until it is
// visible, so the request after a miss is a hit. It reports whether the
// admission policy kept it.
func (c *Cache) Set(h uint64, e *Entry, ttl time.Duration) bool {
	ok := c.c.SetWithTTL(h, e, e.Cost(), ttl)
	c.c.Wait()
	return ok
}

// Used is the bytes of entries held, by the cache's own accounting.
func (c *Cache) Used() int64 { return c.c.MaxCost() - c.c.RemainingCost() }

// Close stops the cache's goroutines.
func (c *Cache) Close() { c.c.Close() }

// StartRefresh reports whether the caller is the first to revalidate e:
// stale-while-revalidate refreshes an entry once, however many requests
// see it stale.
func (e *Entry) StartRefresh() bool { return e.refreshing.CompareAndSwap(false, true) }

// EndRefresh lets another request revalidate e after a failed refresh.
func (e *Entry) EndRefresh() { e.refreshing.Store(false) }
