package ban

import (
	"testing"
	"time"
)

func TestBans(t *testing.T) {
	l := New(time.Hour)
	before := time.Now().Add(-time.Second).UnixNano()
	if l.Banned(1, before) {
		t.Fatal("banned with no bans")
	}
	l.Add(1, time.Now())
	if !l.Banned(1, before) {
		t.Error("an entry stored before the purge survived it")
	}
	if l.Banned(1, time.Now().Add(time.Second).UnixNano()) {
		t.Error("an entry stored after the purge was banned")
	}
	if l.Banned(2, before) {
		t.Error("another asset was banned")
	}
	short := New(time.Millisecond)
	short.Add(1, time.Now().Add(-time.Hour))
	short.Add(2, time.Now())
	if short.Banned(1, before-int64(2*time.Hour)) {
		t.Error("an expired ban was kept")
	}
	if n := testing.AllocsPerRun(100, func() { l.Banned(1, before) }); n != 0 {
		t.Errorf("Banned allocates %v times", n)
	}
}
