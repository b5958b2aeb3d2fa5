package disk

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func BenchmarkGet(b *testing.B) {
	d := open(b, b.TempDir(), 1<<20, Options{})
	e := full("a fairly typical derivative key/c_fill,w_400/sample.avif", 41<<10)
	d.Set(1, e, time.Time{})
	b.SetBytes(int64(len(e.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := d.Get(1, e.Key); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkSet(b *testing.B) {
	d := open(b, b.TempDir(), 1<<30, Options{})
	e := full("a fairly typical derivative key/c_fill,w_400/sample.avif", 41<<10)
	b.SetBytes(int64(len(e.Body)))
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i++
		if err := d.Set(i<<56|i, e, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// spread maps i to a hash spread over the subdirectories.
func spread(i int) uint64 { return uint64(i)*0x9e3779b97f4a7c15 | 1 }

// fill writes n small entries (one block each) spread over every
// subdirectory.
func fill(tb testing.TB, dir string, n int) {
	d, err := Open(dir, int64(n)*BlockSize, Options{MaxEntries: n})
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	for i := range n {
		h := spread(i)
		if err := d.Set(h, full(fmt.Sprint("key/", i), 1000), time.Time{}); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkRebuild is Open on a directory of n entries, with the page
// cache warm.
func BenchmarkRebuild(b *testing.B) {
	for _, n := range []int{20_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			fill(b, dir, n)
			for b.Loop() {
				d, err := Open(dir, int64(n)*BlockSize, Options{MaxEntries: n})
				if err != nil {
					b.Fatal(err)
				}
				if d.Len() != n {
					b.Fatalf("%d entries, want %d", d.Len(), n)
				}
				d.Close()
			}
		})
	}
}

// TestRebuild checks Open on a directory of many entries and logs the
// time; BenchmarkRebuild measures 20k and 100k. Creating the files is
// what takes the time here (about 1.5 ms a file on the CI machine's
// filesystem), so the test keeps to 2k.
func TestRebuild(t *testing.T) {
	const n = 2_000
	dir := t.TempDir()
	fill(t, dir, n)
	start := time.Now()
	d := open(t, dir, n*BlockSize, Options{MaxEntries: n})
	t.Logf("rebuilt %d entries in %v", d.Len(), time.Since(start))
	if d.Len() != n || d.Used() != n*BlockSize {
		t.Errorf("%d entries of %d bytes, want %d of %d", d.Len(), d.Used(), n, n*BlockSize)
	}
	want := full("", 1000).Body
	for _, i := range []int{0, 7, n - 1} {
		if e, _, ok := d.Get(spread(i), fmt.Append(nil, "key/", i)); !ok || !bytes.Equal(e.Body, want) {
			t.Errorf("entry %d after the rebuild: %v", i, ok)
		}
	}
}
