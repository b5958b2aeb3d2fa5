package admin

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/refract-cdn/refract/shared/bus"
)

func TestPurgeAPI(t *testing.T) {
	e := newEnv(t, nil)
	for _, id := range []string{"f/1", "f/2", "g/1"} {
		e.seed(t, "upload", id, "sale")
	}
	e.seed(t, "private", "f/secret", "sale")
	take := func() []bus.Purge {
		e.mu.Lock()
		defer e.mu.Unlock()
		p := e.purges
		e.purges = nil
		return p
	}

	status, _, body := e.raw(t, demo, "POST", "purge", `{"prefix": "f/"}`)
	ps := take()
	if status != 200 || body["accepted"] != true || body["assets"] != 2.0 || len(ps) != 1 ||
		!slices.Equal(ps[0].PublicIDs, []string{"f/1", "f/2"}) || ps[0].Type != "upload" || ps[0].Cloud != "demo" {
		t.Errorf("prefix: %d %v %+v", status, body, ps)
	}

	status, _, body = e.raw(t, demo, "POST", "purge", `{"tag": "sale", "soft": true}`)
	ps = take()
	if status != 200 || body["assets"] != 4.0 || len(ps) != 2 || !ps[0].Soft {
		t.Fatalf("tag: %d %v %+v", status, body, ps)
	}
	if ps[0].Type != "private" || !slices.Equal(ps[0].PublicIDs, []string{"f/secret"}) || !slices.Equal(ps[1].PublicIDs, []string{"f/1", "f/2", "g/1"}) {
		t.Errorf("a tag purge names each asset under its own type: %+v", ps)
	}

	status, _, body = e.raw(t, demo, "POST", "purge",
		`{"urls": ["/demo/image/upload/w_300/f/1.jpg", "https://res.example.com/demo/image/upload/f_auto/g/1"], "public_ids": ["x/y"], "all": true}`)
	ps = take()
	if status != 200 || len(ps) != 4 || !ps[0].All || ps[1].URL != "/demo/image/upload/w_300/f/1.jpg" || ps[2].URL == "" ||
		!slices.Equal(ps[3].PublicIDs, []string{"x/y"}) {
		t.Errorf("all + urls + ids: %d %v %+v", status, body, ps)
	}

	for _, bad := range []string{
		`{}`,
		`{"urls": ["/other/image/upload/a.jpg"]}`,
		`{"urls": ["/demo/image/nothing/a.jpg"]}`,
		`{"public_ids": ["../x"]}`,
		`{"tag": "", "prefix": "", "all": false}`,
		`{"all": true, "type": "bogus"}`,
	} {
		if status, hdr, _ := e.raw(t, demo, "POST", "purge", bad); status != 400 || hdr.Get("X-Cld-Error") == "" {
			t.Errorf("%s: %d, want 400 with a message", bad, status)
		}
	}
	if len(take()) != 0 {
		t.Error("a refused purge published something")
	}
	if status, _, _ := e.raw(t, other, "POST", "purge", `{"all": true}`); status != 401 {
		t.Errorf("another cloud's key purged demo: %d", status)
	}
}

// A bus that refuses: the API says so with a 503, and may be retried.
func TestPurgeNotAccepted(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Bus = refusing{} })
	status, hdr, body := e.raw(t, demo, "POST", "purge", `{"all": true}`)
	if status != 503 || hdr.Get("X-Cld-Error") == "" || body["accepted"] != nil {
		t.Errorf("refused purge: %d %v", status, body)
	}
}

type refusing struct{}

func (refusing) Publish(context.Context, bus.Purge) error { return errors.New("nats: timeout") }
func (refusing) Subscribe(func(bus.Purge)) func()         { return func() {} }

// Without a bus (refract origin without NATS) purges are refused, not
// accepted for nobody.
func TestPurgeWithoutBus(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Bus = nil })
	if status, hdr, _ := e.raw(t, demo, "POST", "purge", `{"all": true}`); status != 501 || hdr.Get("X-Cld-Error") != "No purge bus is configured" {
		t.Errorf("purge without a bus: %d %q", status, hdr.Get("X-Cld-Error"))
	}
}
