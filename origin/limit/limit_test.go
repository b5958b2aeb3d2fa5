package limit

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBounds(t *testing.T) {
	l := New(2, 1)
	ctx := context.Background()
	r1, _ := l.Acquire(ctx)
	r2, _ := l.Acquire(ctx)
	if l.InUse() != 2 {
		t.Fatalf("InUse = %d", l.InUse())
	}
	got := make(chan error, 1)
	go func() {
		r, err := l.Acquire(ctx) // waits in the queue
		if err == nil {
			r()
		}
		got <- err
	}()
	for l.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	if _, err := l.Acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Errorf("a full queue admitted a caller: %v", err)
	}
	r1()
	if err := <-got; err != nil {
		t.Errorf("the queued caller failed: %v", err)
	}
	r2()
	cctx, cancel := context.WithCancel(ctx)
	a, _ := l.Acquire(ctx)
	b, _ := l.Acquire(ctx)
	cancel()
	if _, err := l.Acquire(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled wait: %v", err)
	}
	a()
	b()
	if l.InUse() != 0 || l.Waiting() != 0 {
		t.Errorf("leaked: in use %d, waiting %d", l.InUse(), l.Waiting())
	}
}
