package delivery

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/refract-cdn/refract/shared/format"
)

// txCache remembers, by the transformation as written in the URL, what a
// hit needs from it: its canonical form and its f_. Parsing and
// canonicalising a chain was the largest part of a hit, and an edge sees
// the same transformations over and over.
//
// It is a direct-mapped table of immutable entries behind atomic
// pointers: a lookup is one hash, one load and one string compare, with
// no lock and no write, so cores serving the same hot transformation do
// not contend. An insert replaces whatever shared the slot; the table's
// size bounds its memory. The hash is seeded per process, so a client
// cannot choose transformations that evict each other.
type txCache struct {
	seed  maphash.Seed
	slots [txSlots]atomic.Pointer[txInfo]
}

const (
	txSlots = 4096 // a power of two
	// txMaxLen keeps long transformations out, so the table holds at
	// most a few MB whatever it is fed.
	txMaxLen = 512
)

// txInfo is a parsed transformation, as the hit path needs it. It is
// never modified once in the table.
type txInfo struct {
	raw    string        // the transformation as written
	canon  []byte        // transform.Chain.AppendCanonical
	format format.Format // transform.Chain.Format
}

func newTxCache() *txCache { return &txCache{seed: maphash.MakeSeed()} }

func (c *txCache) slot(raw string) *atomic.Pointer[txInfo] {
	return &c.slots[maphash.String(c.seed, raw)&(txSlots-1)]
}

// get returns raw's entry, or nil.
func (c *txCache) get(raw string) *txInfo {
	if t := c.slot(raw).Load(); t != nil && t.raw == raw {
		return t
	}
	return nil
}

// put remembers raw's canonical form and format. It copies both, so
// they may point into request buffers.
func (c *txCache) put(raw string, canon []byte, f format.Format) {
	if len(raw)+len(canon) > txMaxLen {
		return
	}
	b := make([]byte, len(raw)+len(canon)) // one allocation for both
	copy(b, raw)
	copy(b[len(raw):], canon)
	c.slot(raw).Store(&txInfo{raw: b2s(b[:len(raw)]), canon: b[len(raw):], format: f})
}
