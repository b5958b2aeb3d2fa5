// Package disk is the edge's disk tier: whole responses in files under one
// directory, bounded in bytes and in entries, evicted least recently used
// first, and found again after a restart.
//
// Every read checks the file's checksum, so a damaged or torn file is a
// miss (and is deleted), never wrong bytes. A hash collision is a miss too:
// each file carries its full key.
//
// Writes go to a temporary file in the entry's directory, which is then
// renamed over the entry's name, so a reader sees the old file or the new
// one, never half of one. There is no fsync by default: it would cost a
// disk flush per image, and what it protects against, a power loss leaving
// a renamed file empty or torn, the checksum already turns into a miss. A
// cache may lose entries in a crash; it must never serve bad ones.
// Options.Sync adds the fsync for those who want fewer losses.
//
// Concurrency: one mutex guards the index (golang-lru's simplelru, O(1)
// per operation) together with the renames and unlinks that must agree
// with it; bodies are read and written outside it.
package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/refract-cdn/refract/edge/cache"
)

// Options tune a Tier; the zero value is usable.
type Options struct {
	// MaxEntryBytes is the largest file (header and body) stored; larger
	// entries are refused. Default 32 MiB.
	MaxEntryBytes int64
	// MaxEntries bounds the index, which costs about 130 bytes of RAM an
	// entry. Default maxBytes/16 KiB, at least 1024: that is at most 0.8%
	// of the disk cap in RAM, and a disk of entries much smaller than
	// 16 KiB fills by count before it fills by bytes.
	MaxEntries int
	// Writers is the number of goroutines writing SetAsync's entries.
	// Default 2.
	Writers int
	// Queue and QueueBytes bound SetAsync's backlog, in entries and in
	// bytes; past either, writes are dropped. Defaults 256 and 64 MiB;
	// QueueBytes is raised to MaxEntryBytes if below it.
	Queue      int
	QueueBytes int64
	// PromoteAfter is how many disk hits make an entry Hot. Default 2.
	PromoteAfter int
	// Sync fsyncs each file before renaming it into place.
	Sync bool
}

// BlockSize is the unit files are counted in: a 500-byte file takes a
// 4 KiB block on the usual filesystems, and the cap is on disk space.
const BlockSize = 4096

// cost is what a file of size bytes counts against the cap.
func cost(size uint32) int64 { return (int64(size) + BlockSize - 1) &^ (BlockSize - 1) }

var (
	// ErrTooLarge refuses an entry over Options.MaxEntryBytes.
	ErrTooLarge = errors.New("disk: entry too large")
	// ErrClosed is returned by Set after Close.
	ErrClosed = errors.New("disk: tier closed")
)

// Stats are the tier's counters since Open.
type Stats struct {
	Hits      uint64 // Gets that returned an entry
	Misses    uint64 // Gets that did not, corrupt ones included
	Corrupt   uint64 // files found damaged (and deleted) by Get or Open
	Writes    uint64 // entries written
	Dropped   uint64 // SetAsync calls refused for a full queue or a closed tier
	TooLarge  uint64 // entries refused by MaxEntryBytes
	Failed    uint64 // writes that failed on an I/O error
	Evictions uint64 // entries removed to keep the caps
}

type counters struct {
	hits, misses, corrupt, writes, dropped, tooLarge, failed, evictions atomic.Uint64
}

// meta is all the index holds for an entry.
type meta struct {
	expires int64  // unix ns, 0: never
	size    uint32 // the file's size
	hits    uint32 // disk hits since the entry was written
	gen     uint32 // tells a rewritten entry from the one a reader saw
}

type job struct {
	h       uint64
	e       *cache.Entry
	expires time.Time
	n       int64
}

// Tier is a disk cache. Its methods are safe for concurrent use.
type Tier struct {
	dir  string
	max  int64
	opts Options
	lock *os.File

	mu     sync.Mutex
	lru    *simplelru.LRU[uint64, meta]
	used   int64
	gen    uint32
	closed bool

	qmu     sync.RWMutex // guards sends on queue against its closing
	queue   chan job
	qclosed bool
	queued  atomic.Int64 // bytes in queue
	writers sync.WaitGroup

	stats counters
}

// Open opens the tier in dir, creating it if needed, holding at most
// maxBytes of files. It rebuilds the index from the files' headers,
// deletes temporary and damaged files, and evicts down to the caps if
// they shrank. One Tier at a time may use a directory.
func Open(dir string, maxBytes int64, opts Options) (*Tier, error) {
	if maxBytes < BlockSize {
		return nil, fmt.Errorf("disk: a cap of %d bytes is below one block", maxBytes)
	}
	if opts.MaxEntryBytes <= 0 {
		opts.MaxEntryBytes = 32 << 20
	}
	opts.MaxEntryBytes = min(opts.MaxEntryBytes, maxBytes, maxBody)
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = int(max(1024, maxBytes/(16<<10)))
	}
	if opts.Writers <= 0 {
		opts.Writers = 2
	}
	if opts.Queue <= 0 {
		opts.Queue = 256
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = 64 << 20
	}
	opts.QueueBytes = max(opts.QueueBytes, opts.MaxEntryBytes)
	if opts.PromoteAfter <= 0 {
		opts.PromoteAfter = 2
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	t := &Tier{dir: dir, max: maxBytes, opts: opts, lock: lock, queue: make(chan job, opts.Queue)}
	t.lru, _ = simplelru.NewLRU(opts.MaxEntries, t.evicted) // only fails on a size <= 0
	if err := t.rebuild(); err != nil {
		lock.Close()
		return nil, err
	}
	for range opts.Writers {
		t.writers.Go(t.write)
	}
	return t, nil
}

// Get returns the entry stored for key (hashed as h) and its expiry (zero:
// none). An expired entry is still returned, so the caller may serve it
// stale; Delete it when done with it. The entry is a fresh copy the
// caller owns, fit for the RAM tier.
func (t *Tier) Get(h uint64, key []byte) (e *cache.Entry, expires time.Time, ok bool) {
	t.mu.Lock()
	m, ok := t.lru.Get(h)
	ok = ok && !t.closed
	t.mu.Unlock()
	if !ok {
		t.stats.misses.Add(1)
		return nil, time.Time{}, false
	}
	e, exp, err := t.read(h, m.size)
	if err != nil {
		// Gone, short or damaged: forget it, unless it was rewritten
		// meanwhile. Other errors (out of file descriptors) say nothing
		// about the file.
		if lost(err) && t.drop(h, m.gen) {
			t.stats.corrupt.Add(1)
		}
		t.stats.misses.Add(1)
		return nil, time.Time{}, false
	}
	if !bytes.Equal(e.Key, key) {
		// Another key with the same hash: its file stays.
		t.stats.misses.Add(1)
		return nil, time.Time{}, false
	}
	t.mu.Lock()
	if cur, ok := t.lru.Peek(h); ok && cur.gen == m.gen {
		cur.hits++
		t.lru.Add(h, cur)
	}
	t.mu.Unlock()
	t.stats.hits.Add(1)
	if exp != 0 {
		expires = time.Unix(0, exp)
	}
	return e, expires, true
}

// read reads and checks h's file, which the index says is size bytes.
func (t *Tier) read(h uint64, size uint32) (*cache.Entry, int64, error) {
	f, err := os.Open(t.path(h))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, 0, err
	}
	return decode(b)
}

// lost tells a read error that condemns the file.
func lost(err error) bool {
	return errors.Is(err, errCorrupt) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, fs.ErrNotExist)
}

// drop removes h from the index (and its file) if it is still generation
// gen.
func (t *Tier) drop(h uint64, gen uint32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m, ok := t.lru.Peek(h); ok && m.gen == gen && !t.closed {
		return t.lru.Remove(h)
	}
	return false
}

// Hot reports whether h's entry has had Options.PromoteAfter disk hits
// since it was written, and has not expired: the caller's cue to promote
// it to RAM. One hit is not enough, so that a single request for a cold
// image does not push others out of RAM.
func (t *Tier) Hot(h uint64) bool {
	t.mu.Lock()
	m, ok := t.lru.Peek(h)
	t.mu.Unlock()
	return ok && int(m.hits) >= t.opts.PromoteAfter && (m.expires == 0 || time.Now().UnixNano() < m.expires)
}

// Set stores e under h until expires (zero: no expiry), replacing what h
// held, and evicts the least recently used entries down to the caps. It
// writes synchronously; the request path uses SetAsync.
func (t *Tier) Set(h uint64, e *cache.Entry, expires time.Time) error {
	err := t.set(h, e, expires)
	switch {
	case err == nil:
		t.stats.writes.Add(1)
	case errors.Is(err, ErrTooLarge):
		t.stats.tooLarge.Add(1)
	case errors.Is(err, ErrClosed):
	default:
		t.stats.failed.Add(1)
	}
	return err
}

func (t *Tier) set(h uint64, e *cache.Entry, expires time.Time) error {
	var exp int64
	if !expires.IsZero() {
		exp = expires.UnixNano()
	}
	hdr, err := appendHeader(make([]byte, 0, 256), e, exp)
	if err != nil {
		return err
	}
	size := int64(len(hdr)) + int64(len(e.Body)) + sumLen
	if size > t.opts.MaxEntryBytes {
		return ErrTooLarge
	}
	dir := t.subdir(int(h >> 56))
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		// Subdirectories are made on first use: making all 256 up front
		// costs a fresh tier a fifth of a second on ext4.
		if err = os.Mkdir(dir, 0o755); err == nil || errors.Is(err, fs.ErrExist) {
			f, err = os.CreateTemp(dir, tmpPrefix+"*")
		}
	}
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := t.writeFile(f, hdr, e.Body); err != nil {
		os.Remove(tmp)
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		os.Remove(tmp)
		return ErrClosed
	}
	// Renamed under the lock, so the index and the directory agree
	// whenever it is free.
	if err := os.Rename(tmp, t.path(h)); err != nil {
		os.Remove(tmp)
		return err
	}
	if old, ok := t.lru.Peek(h); ok {
		t.used -= cost(old.size)
	}
	t.gen++
	if t.lru.Add(h, meta{expires: exp, size: uint32(size), gen: t.gen}) {
		t.stats.evictions.Add(1)
	}
	t.used += cost(uint32(size))
	t.shrink()
	return nil
}

// writeFile writes and closes f.
func (t *Tier) writeFile(f *os.File, hdr, body []byte) error {
	var d xxhash.Digest
	d.Reset()
	d.Write(hdr)
	d.Write(body)
	_, err := f.Write(hdr)
	if err == nil {
		_, err = f.Write(body)
	}
	if err == nil {
		_, err = f.Write(le.AppendUint64(nil, d.Sum64()))
	}
	if err == nil && t.opts.Sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// shrink evicts down to the byte cap; t.mu is held.
func (t *Tier) shrink() {
	for t.used > t.max {
		if _, _, ok := t.lru.RemoveOldest(); !ok {
			return
		}
		t.stats.evictions.Add(1)
	}
}

// evicted is the index's callback for every entry leaving it; t.mu is
// held.
func (t *Tier) evicted(h uint64, m meta) {
	t.used -= cost(m.size)
	// An unlink that fails leaves a file the next Open indexes again.
	os.Remove(t.path(h))
}

// SetAsync queues e for writing by the tier's writers and never blocks:
// when the queue is full, or the tier closed, the write is dropped and
// counted. It reports whether e was queued.
func (t *Tier) SetAsync(h uint64, e *cache.Entry, expires time.Time) bool {
	n := int64(len(e.Key) + len(e.Body))
	if n > t.opts.MaxEntryBytes {
		t.stats.tooLarge.Add(1)
		return false
	}
	t.qmu.RLock()
	defer t.qmu.RUnlock()
	if !t.qclosed {
		if t.queued.Add(n) <= t.opts.QueueBytes {
			select {
			case t.queue <- job{h: h, e: e, expires: expires, n: n}:
				return true
			default:
			}
		}
		t.queued.Add(-n)
	}
	t.stats.dropped.Add(1)
	return false
}

func (t *Tier) write() {
	for j := range t.queue {
		t.Set(j.h, j.e, j.expires)
		t.queued.Add(-j.n)
	}
}

// Delete removes h's entry. After Close it does nothing: the directory
// may be another tier's by then.
func (t *Tier) Delete(h uint64) {
	t.mu.Lock()
	if !t.closed {
		t.lru.Remove(h)
	}
	t.mu.Unlock()
}

// Used is the bytes the tier's files take, each rounded up to BlockSize.
func (t *Tier) Used() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.used
}

// Len is the number of entries.
func (t *Tier) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}

// Stats returns the counters.
func (t *Tier) Stats() Stats {
	c := &t.stats
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Corrupt: c.corrupt.Load(),
		Writes: c.writes.Load(), Dropped: c.dropped.Load(), TooLarge: c.tooLarge.Load(),
		Failed: c.failed.Load(), Evictions: c.evictions.Load(),
	}
}

// Close writes what SetAsync queued, stops the writers and releases the
// directory. Gets after it miss; the files stay for the next Open.
func (t *Tier) Close() error {
	t.qmu.Lock()
	if t.qclosed {
		t.qmu.Unlock()
		return nil
	}
	t.qclosed = true
	close(t.queue)
	t.qmu.Unlock()
	t.writers.Wait()
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return t.lock.Close()
}

const hexDigits = "0123456789abcdef"

// subdir is the directory of hashes whose top byte is i.
func (t *Tier) subdir(i int) string {
	return t.dir + string([]byte{os.PathSeparator, hexDigits[i>>4&15], hexDigits[i&15]})
}

// path is h's file: 256 subdirectories keep directories small.
func (t *Tier) path(h uint64) string {
	var buf [128]byte
	b := append(buf[:0], t.dir...)
	b = append(b, os.PathSeparator, hexDigits[h>>60], hexDigits[h>>56&15], os.PathSeparator)
	for s := 60; s >= 0; s -= 4 {
		b = append(b, hexDigits[h>>s&15])
	}
	return string(b)
}
