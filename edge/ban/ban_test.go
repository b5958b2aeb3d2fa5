package ban

import (
	"testing"
	"time"
)

func TestBans(t *testing.T) {
	l := New(time.Hour)
	before := time.Now().Add(-time.Second).UnixNano()
	e := &Subject{Asset: 1, Variant: 10, Cloud: 100, Stored: before}
	if l.Check(e) != Fresh {
		t.Fatal("banned with no bans")
	}
	l.Add(Asset, 1, time.Now(), false)
	if l.Check(e) != Gone {
		t.Error("an entry stored before the purge survived it")
	}
	if l.Check(&Subject{Asset: 1, Stored: time.Now().Add(time.Second).UnixNano()}) != Fresh {
		t.Error("an entry stored after the purge was banned")
	}
	if l.Check(&Subject{Asset: 2, Variant: 10, Cloud: 100, Stored: before}) != Fresh {
		t.Error("another asset was banned")
	}
	if n := testing.AllocsPerRun(100, func() { l.Check(e) }); n != 0 {
		t.Errorf("Check allocates %v times", n)
	}
}

func TestKinds(t *testing.T) {
	before := time.Now().Add(-time.Second).UnixNano()
	for _, kind := range []Kind{Asset, Variant, Cloud} {
		l := New(time.Hour)
		l.Add(kind, 7, time.Now(), false)
		hit := Subject{Asset: 1, Variant: 2, Cloud: 3, Stored: before}
		if l.Check(&hit) != Fresh {
			t.Errorf("kind %d: a ban on 7 covered hashes 1, 2, 3", kind)
		}
		switch kind {
		case Asset:
			hit.Asset = 7
		case Variant:
			hit.Variant = 7
		case Cloud:
			hit.Cloud = 7
		}
		if l.Check(&hit) != Gone {
			t.Errorf("kind %d: not banned", kind)
		}
	}
}

func TestSoft(t *testing.T) {
	l := New(time.Hour)
	before := time.Now().Add(-time.Second).UnixNano()
	l.Add(Variant, 5, time.Now(), true)
	e := &Subject{Variant: 5, Stored: before}
	if l.Check(e) != Stale {
		t.Errorf("soft purge: %v, want Stale", l.Check(e))
	}
	l.Add(Asset, 9, time.Now(), false)
	e.Asset = 9
	if l.Check(e) != Gone {
		t.Error("a hard ban did not win over a soft one")
	}
	if l.Check(&Subject{Variant: 5, Stored: time.Now().Add(time.Second).UnixNano()}) != Fresh {
		t.Error("a refreshed entry stayed stale")
	}
}

func TestDropUnversioned(t *testing.T) {
	l := New(time.Hour)
	before := time.Now().Add(-time.Second).UnixNano()
	l.DropUnversioned(time.Now())
	if l.Check(&Subject{Asset: 1, Stored: before}) != Gone {
		t.Error("an unversioned entry survived")
	}
	if l.Check(&Subject{Asset: 1, Stored: before, Versioned: true}) != Fresh {
		t.Error("a versioned entry was dropped")
	}
	if l.Check(&Subject{Asset: 1, Stored: time.Now().Add(time.Second).UnixNano()}) != Fresh {
		t.Error("an entry stored after the drop was dropped")
	}
}

func TestExpiry(t *testing.T) {
	short := New(time.Millisecond)
	short.Add(Asset, 1, time.Now().Add(-time.Hour), false)
	short.DropUnversioned(time.Now().Add(-time.Hour))
	short.Add(Asset, 2, time.Now(), false)
	if short.Len() != 1 {
		t.Errorf("%d bans held, want the one fresh ban", short.Len())
	}
	if short.Check(&Subject{Asset: 1, Stored: time.Now().Add(-2 * time.Hour).UnixNano()}) != Fresh {
		t.Error("an expired ban was kept")
	}
	var none *List
	if none.Check(&Subject{}) != Fresh {
		t.Error("a nil list banned")
	}
}

// A purge stored while many bans are held, as when an edge replays a
// stream of a busy week: each Add must not scan them all.
func BenchmarkAddWithManyBans(b *testing.B) {
	l := New(time.Hour)
	now := time.Now()
	for i := 0; i < 100_000; i++ {
		l.Add(Asset, uint64(i), now, false)
	}
	b.ResetTimer()
	i := uint64(1 << 32)
	for b.Loop() {
		l.Add(Asset, i, now, false)
		i++
	}
}

func TestReplayedOldPurgesAreSkipped(t *testing.T) {
	l := New(time.Hour)
	l.Add(Asset, 1, time.Now().Add(-2*time.Hour), false)
	if l.Len() != 0 {
		t.Error("a purge older than every entry it could cover was kept")
	}
}
