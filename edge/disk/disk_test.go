package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refract-cdn/refract/edge/cache"
)

func open(t testing.TB, dir string, max int64, opts Options) *Tier {
	t.Helper()
	d, err := Open(dir, max, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// full is an entry with every field set.
func full(key string, n int) *cache.Entry {
	body := make([]byte, n)
	for i := range body {
		body[i] = byte(i * 7)
	}
	return &cache.Entry{
		Key: []byte(key), Body: body, ContentType: "image/avif", ETag: `"abc123"`,
		CacheControl: "public, max-age=31536000, immutable", Vary: "Accept",
		Disposition: `attachment; filename="a.avif"`, Error: "Resource not found - x",
		Asset: 0xdeadbeefcafef00d, Stored: time.Now().UnixNano(),
	}
}

func mustGet(t *testing.T, d *Tier, h uint64, want *cache.Entry, wantExp time.Time) {
	t.Helper()
	e, exp, ok := d.Get(h, want.Key)
	if !ok {
		t.Fatalf("%x: a stored entry is a miss", h)
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("%x: got %+v\nwant %+v", h, e, want)
	}
	if !exp.Equal(wantExp) {
		t.Errorf("%x: expires %v, want %v", h, exp, wantExp)
	}
}

func TestRoundTrip(t *testing.T) {
	d := open(t, t.TempDir(), 1<<20, Options{})
	exp := time.Unix(0, time.Now().Add(time.Hour).UnixNano())
	a := full("a", 41<<10)
	if err := d.Set(1, a, exp); err != nil {
		t.Fatal(err)
	}
	mustGet(t, d, 1, a, exp)

	empty := &cache.Entry{Key: []byte("e"), Body: []byte{}}
	if err := d.Set(2, empty, time.Time{}); err != nil {
		t.Fatal(err)
	}
	mustGet(t, d, 2, empty, time.Time{})

	// A rewrite replaces the entry and its cost.
	b := full("b", 100)
	if err := d.Set(1, b, time.Time{}); err != nil {
		t.Fatal(err)
	}
	mustGet(t, d, 1, b, time.Time{})
	if d.Len() != 2 || d.Used() != 2*BlockSize {
		t.Errorf("after a rewrite: %d entries, %d bytes; want 2, %d", d.Len(), d.Used(), 2*BlockSize)
	}
	if s := d.Stats(); s.Writes != 3 || s.Hits != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestExpiredIsReturnedForStaleUse(t *testing.T) {
	d := open(t, t.TempDir(), 1<<20, Options{})
	past := time.Unix(0, time.Now().Add(-time.Minute).UnixNano())
	e := full("old", 10)
	d.Set(9, e, past)
	mustGet(t, d, 9, e, past)
	d.Delete(9)
	if _, _, ok := d.Get(9, e.Key); ok {
		t.Error("a deleted entry is a hit")
	}
	if d.Used() != 0 || d.Len() != 0 {
		t.Errorf("after Delete: %d bytes, %d entries", d.Used(), d.Len())
	}
}

func TestCollisionIsAMiss(t *testing.T) {
	d := open(t, t.TempDir(), 1<<20, Options{})
	a := full("a", 10)
	d.Set(5, a, time.Time{})
	if _, _, ok := d.Get(5, []byte("b")); ok {
		t.Fatal("a hash collision returned another key's entry")
	}
	mustGet(t, d, 5, a, time.Time{}) // and the other key's file stays
	if s := d.Stats(); s.Corrupt != 0 || s.Misses != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestTooLargeIsRefused(t *testing.T) {
	d := open(t, t.TempDir(), 4<<20, Options{MaxEntryBytes: 1 << 20})
	big := full("big", 1<<20)
	if err := d.Set(1, big, time.Time{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Set of an entry over the limit: %v", err)
	}
	if d.SetAsync(2, full("big2", 2<<20), time.Time{}) {
		t.Error("SetAsync queued an entry over the limit")
	}
	d.Close()
	if s := d.Stats(); s.TooLarge != 2 || s.Writes != 0 || d.Len() != 0 {
		t.Errorf("stats %+v, %d entries", s, d.Len())
	}
}

// files lists the regular files under dir but LOCK, with their sizes and
// the blocks they take.
func files(t *testing.T, dir string) (n int, size, blocks int64, tmp int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || de.Name() == "LOCK" {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		n++
		size += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			blocks += int64(st.Blocks) * 512
		}
		if strings.HasPrefix(de.Name(), tmpPrefix) {
			tmp++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, size, blocks, tmp
}

func TestRestartKeepsEntries(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir, 1<<20, Options{})
	exp := time.Unix(0, time.Now().Add(time.Hour).UnixNano())
	want := map[uint64]*cache.Entry{}
	for i := range 20 {
		h := uint64(i)<<56 | uint64(i) // spread over subdirectories
		e := full(fmt.Sprint("k", i), i*1000)
		want[h] = e
		if i%2 == 0 {
			d.Set(h, e, exp)
		} else if !d.SetAsync(h, e, exp) {
			t.Fatal("SetAsync dropped a write on an idle tier")
		}
	}
	d.Close() // writes what was queued
	if _, _, ok := d.Get(0, want[0].Key); ok {
		t.Error("Get after Close is a hit")
	}
	d.Delete(0) // the directory is no longer d's: a no-op
	// What a crash leaves: a temporary file, a torn file, a header of
	// garbage, and a file that is not the tier's.
	type file struct {
		b    []byte
		kept bool // not the tier's, so left alone
	}
	junk := map[string]file{
		"00/" + tmpPrefix + "123":  {b: []byte("half a write")},
		"01/01000000000000ff":      {b: []byte("RFDK garbage that is not a header at all, long enough for the fixed part")},
		"02/0200000000000001":      {},
		"03/not-a-cache-file.txt":  {b: []byte("mine"), kept: true},
		"04/0400000000000000.json": {b: []byte("{}"), kept: true},
	}
	torn, _ := os.ReadFile(d.path(2<<56 | 2))
	junk["05/05000000000000aa"] = file{b: torn[:len(torn)/2]}
	for name, f := range junk {
		if err := os.WriteFile(filepath.Join(dir, name), f.b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	d2 := open(t, dir, 1<<20, Options{})
	if d2.Len() != len(want) {
		t.Errorf("after a restart: %d entries, want %d", d2.Len(), len(want))
	}
	for h, e := range want {
		mustGet(t, d2, h, e, exp)
	}
	for name, f := range junk {
		_, err := os.Stat(filepath.Join(dir, name))
		if f.kept && err != nil {
			t.Errorf("%s, not the tier's, was deleted", name)
		}
		if !f.kept && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was kept: %v", name, err)
		}
	}
	if s := d2.Stats(); s.Corrupt != 3 {
		t.Errorf("the scan counted %d damaged files, want 3", s.Corrupt)
	}
	var size int64
	for _, e := range want {
		b, _ := appendHeader(nil, e, 0)
		size += cost(uint32(len(b) + len(e.Body) + sumLen))
	}
	if d2.Used() != size {
		t.Errorf("Used is %d after a restart, want %d", d2.Used(), size)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir, 1<<20, Options{})
	if d2, err := Open(dir, 1<<20, Options{}); err == nil {
		d2.Close()
		t.Fatal("a second tier opened a directory in use")
	}
	d.Close()
	open(t, dir, 1<<20, Options{}) // free again after Close
}

func TestDamageIsAMissAndDeletes(t *testing.T) {
	e := full("key", 5000)
	hdr, _ := appendHeader(nil, e, 0)
	cases := map[string]func(b []byte) []byte{
		"body byte":     func(b []byte) []byte { b[len(hdr)+100] ^= 1; return b },
		"key byte":      func(b []byte) []byte { b[fixedLen] ^= 1; return b },
		"expiry byte":   func(b []byte) []byte { b[57] ^= 0x80; return b },
		"sum byte":      func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		"truncated":     func(b []byte) []byte { return b[:len(b)-1] },
		"truncated hdr": func(b []byte) []byte { return b[:20] },
		"empty":         func(b []byte) []byte { return nil },
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			d := open(t, t.TempDir(), 1<<20, Options{})
			const h = 0xab00000000000001
			d.Set(h, e, time.Time{})
			d.Set(2, full("other", 10), time.Time{})
			b, err := os.ReadFile(d.path(h))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(d.path(h), damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			if got, _, ok := d.Get(h, e.Key); ok {
				t.Fatalf("a damaged file was a hit: %d bytes", len(got.Body))
			}
			if _, err := os.Stat(d.path(h)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the damaged file is still there: %v", err)
			}
			if s := d.Stats(); s.Corrupt != 1 || s.Misses != 1 || d.Len() != 1 || d.Used() != BlockSize {
				t.Errorf("stats %+v, %d entries, %d bytes", s, d.Len(), d.Used())
			}
		})
	}
}

func TestLRUOrder(t *testing.T) {
	// Room for four one-block entries.
	d := open(t, t.TempDir(), 4*BlockSize, Options{})
	es := make([]*cache.Entry, 6)
	for i := range es {
		es[i] = full(fmt.Sprint(i), 100)
	}
	for i := range 4 {
		d.Set(uint64(i), es[i], time.Time{})
	}
	d.Get(0, es[0].Key) // touched: 1 is now the oldest
	d.Set(4, es[4], time.Time{})
	d.Set(5, es[5], time.Time{})
	for i, want := range []bool{true, false, false, true, true, true} {
		if _, _, ok := d.Get(uint64(i), es[i].Key); ok != want {
			t.Errorf("entry %d present: %v, want %v", i, ok, want)
		}
		if _, err := os.Stat(d.path(uint64(i))); (err == nil) != want {
			t.Errorf("entry %d's file: %v", i, err)
		}
	}
	if s := d.Stats(); s.Evictions != 2 {
		t.Errorf("%d evictions, want 2", s.Evictions)
	}
}

func TestEntryCountIsBounded(t *testing.T) {
	d := open(t, t.TempDir(), 1<<20, Options{MaxEntries: 3})
	for i := range 10 {
		d.Set(uint64(i), full(fmt.Sprint(i), 1), time.Time{})
	}
	if d.Len() != 3 || d.Used() != 3*BlockSize {
		t.Errorf("%d entries, %d bytes; want 3, %d", d.Len(), d.Used(), 3*BlockSize)
	}
	if n, _, _, _ := files(t, d.dir); n != 3 {
		t.Errorf("%d files, want 3", n)
	}
}

func TestShrunkCapEvictsAtOpen(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir, 1<<20, Options{})
	for i := range 100 {
		d.Set(uint64(i)<<56, full(fmt.Sprint(i), 6000), time.Time{}) // two blocks each
	}
	d.Close()
	d = open(t, dir, 20*BlockSize, Options{})
	n, _, _, _ := files(t, dir)
	if d.Used() != 20*BlockSize || d.Len() != 10 || n != 10 {
		t.Errorf("after shrinking: %d bytes, %d entries, %d files", d.Used(), d.Len(), n)
	}
	// The newest writes are the ones kept.
	for i := 90; i < 100; i++ {
		if _, _, ok := d.Get(uint64(i)<<56, []byte(fmt.Sprint(i))); !ok {
			t.Errorf("entry %d, among the newest, was evicted", i)
		}
	}
}

func TestHotAfterTwoHits(t *testing.T) {
	d := open(t, t.TempDir(), 1<<20, Options{})
	e := full("k", 10)
	d.Set(1, e, time.Time{})
	var hot []bool
	for range 2 {
		d.Get(1, e.Key)
		hot = append(hot, d.Hot(1))
	}
	d.Get(1, []byte("other key"))
	d.Set(1, e, time.Time{}) // a rewrite starts again
	d.Set(2, e, time.Now().Add(-time.Second))
	d.Get(2, e.Key)
	d.Get(2, e.Key)
	hot = append(hot, d.Hot(1), d.Hot(2), d.Hot(3))
	if !reflect.DeepEqual(hot, []bool{false, true, false, false, false}) {
		t.Errorf("Hot after 1 and 2 hits, a rewrite, for an expired entry and a missing one: %v", hot)
	}
}

func TestFullQueueDrops(t *testing.T) {
	d := open(t, t.TempDir(), 1<<20, Options{Writers: 1, Queue: 1})
	// The writer blocks on the index lock after its first write, so one
	// entry is in its hands, one in the queue, and the third has no room.
	d.mu.Lock()
	queued := 0
	for i := range 3 {
		if d.SetAsync(uint64(i), full(fmt.Sprint(i), 10), time.Time{}) {
			queued++
		}
	}
	d.mu.Unlock()
	d.Close()
	if d.SetAsync(9, full("late", 10), time.Time{}) {
		t.Error("SetAsync queued after Close")
	}
	s := d.Stats()
	if queued > 2 || s.Writes != uint64(queued) || s.Dropped != uint64(4-queued) || d.Len() != queued {
		t.Errorf("%d queued, stats %+v, %d entries", queued, s, d.Len())
	}
	if d.queued.Load() != 0 {
		t.Errorf("the queue counts %d bytes when empty", d.queued.Load())
	}
}

// TestCapsHoldUnderLoad writes entries of random sizes from many
// goroutines while others read and delete, then checks the cap against
// the tier's accounting and against the directory itself.
func TestCapsHoldUnderLoad(t *testing.T) {
	const limit = 4 << 20
	dir := t.TempDir()
	d := open(t, dir, limit, Options{Writers: 2, MaxEntryBytes: 512 << 10})
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := int64(0)
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 300 {
				k := r.Uint64N(200)
				h := k<<56 | k
				key := []byte(fmt.Sprint(h))
				switch r.IntN(10) {
				case 0:
					d.Delete(h)
				case 1, 2, 3:
					if e, _, ok := d.Get(h, key); ok && string(e.Key) != string(key) {
						t.Errorf("Get(%x) returned key %q", h, e.Key)
					}
				default:
					e := &cache.Entry{Key: key, Body: make([]byte, r.IntN(300<<10))}
					if !d.SetAsync(h, e, time.Time{}) && i%50 == 0 {
						time.Sleep(time.Millisecond) // let the writers catch up sometimes
					}
				}
				if used := d.Used(); used > limit {
					t.Errorf("Used %d over the cap %d", used, limit)
				}
				mu.Lock()
				peak = max(peak, d.Used())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	d.Close()
	n, size, blocks, tmp := files(t, dir)
	s := d.Stats()
	t.Logf("peak %d of %d bytes; on disk: %d files, %d bytes, %d allocated; %+v", peak, limit, n, size, blocks, s)
	if tmp != 0 || n != d.Len() {
		t.Errorf("%d temporary files left; %d files for %d entries", tmp, n, d.Len())
	}
	if size > d.Used() || d.Used() > limit {
		t.Errorf("files of %d bytes, Used %d, cap %d", size, d.Used(), limit)
	}
	// Allocation rounds to blocks as Used does; a few blocks of slack for
	// filesystems that allocate ahead.
	if blocks > limit+16*BlockSize {
		t.Errorf("the files take %d bytes of disk, over the cap %d", blocks, limit)
	}
	if s.Evictions == 0 || s.Writes == 0 {
		t.Errorf("the load did not exercise eviction: %+v", s)
	}
	for i := 0; runtime.NumGoroutine() > before-2 && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before-2 {
		t.Errorf("%d goroutines after Close, %d with the tier's two writers running", g, before)
	}
}
