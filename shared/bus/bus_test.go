package bus

import (
	"context"
	"testing"
)

func TestLocal(t *testing.T) {
	b := NewLocal()
	var got []string
	cancel := b.Subscribe(func(p Purge) { got = append(got, p.PublicID) })
	b.Publish(context.Background(), Purge{PublicID: "a"})
	cancel()
	b.Publish(context.Background(), Purge{PublicID: "b"})
	if len(got) != 1 || got[0] != "a" {
		t.Errorf("got %v, want [a]", got)
	}
}
