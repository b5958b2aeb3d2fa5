package flight

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCoalesces(t *testing.T) {
	var g Group[string, int]
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	var sharedN atomic.Int32
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err, shared := g.Do("k", func() (int, error) {
				calls.Add(1)
				<-release
				return 42, nil
			})
			if v != 42 || err != nil {
				t.Errorf("got %v %v", v, err)
			}
			if shared {
				sharedN.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if calls.Load() != 1 || sharedN.Load() != 49 {
		t.Errorf("calls = %d, shared = %d; want 1 and 49", calls.Load(), sharedN.Load())
	}
	// A later call runs again.
	g.Do("k", func() (int, error) { calls.Add(1); return 0, nil })
	if calls.Load() != 2 {
		t.Error("a finished key was not released")
	}
}

func TestPanicBecomesError(t *testing.T) {
	var g Group[int, string]
	_, err, _ := g.Do(1, func() (string, error) { panic("boom") })
	if err == nil {
		t.Fatal("a panic was swallowed")
	}
	_, err, _ = g.Do(1, func() (string, error) { return "", errors.New("x") })
	if err == nil || err.Error() != "x" {
		t.Errorf("the key stayed poisoned: %v", err)
	}
}
