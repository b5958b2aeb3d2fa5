//go:build !race

package disk

import (
	"testing"
	"time"
)

// TestGetAllocs pins a disk hit's allocations: the file's buffer (which
// the entry's key and body share), the entry, its strings, and four for
// opening the file by name.
func TestGetAllocs(t *testing.T) {
	d := open(t, t.TempDir(), 1<<20, Options{})
	e := full("key", 41<<10)
	d.Set(1, e, time.Time{})
	if n := testing.AllocsPerRun(100, func() { d.Get(1, e.Key) }); n > 7 {
		t.Errorf("a disk hit allocates %v times, want at most 7", n)
	}
}
