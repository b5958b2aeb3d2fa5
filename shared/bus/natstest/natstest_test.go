package natstest

import "testing"

func TestStartRestartStop(t *testing.T) {
	s := Start(t)
	if !ready(s.Port()) {
		t.Fatalf("not ready after Start:\n%s", s.Log())
	}
	s.Stop()
	if ready(s.Port()) {
		t.Fatal("still answering after Stop")
	}
	s.Stop() // a second Stop is harmless
	s.Restart()
	if !ready(s.Port()) {
		t.Fatalf("not ready after Restart:\n%s", s.Log())
	}
}
