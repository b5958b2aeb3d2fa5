package usage

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/store/localfs"
)

func newStore(t *testing.T) store.Store {
	s, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRendersSurviveRestartAndSumAcrossNodes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, err := NewRecorder(s, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				a.Render("demo")
				if j%25 == 0 {
					a.Flush(ctx)
				}
			}
		}()
	}
	wg.Wait()
	a.Render("other")
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A restart: the new process continues from the flushed totals.
	a2, _ := NewRecorder(s, "node-a")
	a2.Render("demo") // before Load: added, not lost
	if err := a2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a2.Renders("demo"); got != 801 {
		t.Errorf("after restart: %d renders, want 801", got)
	}
	if got := a2.Renders("other"); got != 1 {
		t.Errorf("other cloud after restart: %d", got)
	}
	a2.Flush(ctx)

	// Node b reports: a's flushed 801 plus its own live, unflushed 2.
	b, _ := NewRecorder(s, "node-b")
	b.Render("demo")
	b.Render("demo")
	rep := &Reporter{Assets: &asset.Repo{Store: s}, Recorder: b}
	r, err := rep.Report(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if r.Renders != 803 {
		t.Errorf("renders across nodes: %d, want 803", r.Renders)
	}
	b.Render("demo") // live even while the storage figures are cached
	if r, _ := rep.Report(ctx, "demo"); r.Renders != 804 {
		t.Errorf("own renders are live: %d", r.Renders)
	}
	if _, err := NewRecorder(s, "../x"); err == nil {
		t.Error("a node id with a slash was accepted")
	}
	var nilRec *Recorder
	nilRec.Render("demo") // a node without usage wiring must not crash
}

func TestStorageCountsAreCached(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	repo := &asset.Repo{Store: s}
	now := time.Unix(1_700_000_000, 0)
	rep := &Reporter{Assets: repo, Now: func() time.Time { return now }}
	put := func(id string, size int) *asset.Asset {
		a := &asset.Asset{Cloud: "demo", ResourceType: "image", Type: "upload", PublicID: id, Format: "jpg"}
		if _, err := repo.Save(ctx, a, bytes.NewReader(make([]byte, size)), true); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := put("one", 100)
	repo.PutDerived(ctx, a, "x.jpg", "w_10", "jpg", make([]byte, 7), "image/jpeg")
	r, err := rep.Report(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if r.Assets != 1 || r.Derived != 1 || r.OriginalBytes != 100 || r.DerivedBytes != 7 || r.StorageBytes() != 107 || !r.CountedAt.Equal(now) {
		t.Errorf("report: %+v", r)
	}
	put("two", 50)
	if r, _ := rep.Report(ctx, "demo"); r.Assets != 1 {
		t.Errorf("counts were not cached: %+v", r)
	}
	now = now.Add(DefaultTTL + time.Second)
	if r, _ := rep.Report(ctx, "demo"); r.Assets != 2 || r.OriginalBytes != 150 {
		t.Errorf("counts after the TTL: %+v", r)
	}
}

func TestRunFlushesOnStop(t *testing.T) {
	s := newStore(t)
	rec, _ := NewRecorder(s, "n1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx, time.Hour); close(done) }()
	rec.Render("demo")
	cancel()
	<-done
	f, err := readFile(context.Background(), s, Key("demo", "n1"))
	if err != nil || f.Renders != 1 || f.Node != "n1" {
		t.Errorf("flushed on stop: %+v %v", f, err)
	}
}

// A restarted node that flushes before loading must not lose the
// persisted total.
func TestFlushBeforeLoadKeepsTheTotal(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, _ := NewRecorder(s, "n")
	for i := 0; i < 5; i++ {
		a.Render("demo")
	}
	a.Flush(ctx)
	b, _ := NewRecorder(s, "n") // the restart
	b.Render("demo")
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := readFile(ctx, s, Key("demo", "n"))
	if err != nil || f.Renders != 6 {
		t.Errorf("persisted after restart and flush: %+v %v", f, err)
	}
}
