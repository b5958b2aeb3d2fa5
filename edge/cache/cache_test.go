package cache

import (
	"fmt"
	"testing"
	"time"
)

func entry(key string, n int) *Entry {
	return &Entry{Key: []byte(key), Body: make([]byte, n)}
}

func TestGetSet(t *testing.T) {
	c, err := New(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Set(1, entry("a", 10), 0)
	if e := c.Get(1, []byte("a")); e == nil || string(e.Key) != "a" {
		t.Fatal("a stored entry is not found")
	}
	if c.Get(1, []byte("b")) != nil {
		t.Error("a hash collision returned another key's entry")
	}
	if c.Get(2, []byte("a")) != nil {
		t.Error("found under the wrong hash")
	}
	c.Set(3, entry("ttl", 10), 50*time.Millisecond)
	time.Sleep(1100 * time.Millisecond) // ristretto expires on a 1 s ticker, and Get checks the deadline
	if c.Get(3, []byte("ttl")) != nil {
		t.Error("an expired entry was returned")
	}
}

func TestBoundedBytes(t *testing.T) {
	const max = 1 << 20
	c, _ := New(max)
	defer c.Close()
	for i := 0; i < 500; i++ {
		c.Set(uint64(i), entry(fmt.Sprint(i), 10<<10), 0)
	}
	if used := c.Used(); used > max {
		t.Errorf("the cache holds %d bytes, over its %d limit", used, max)
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	c, _ := New(1 << 20)
	defer c.Close()
	c.Set(7, entry("key", 100), 0)
	k := []byte("key")
	if n := testing.AllocsPerRun(1000, func() { c.Get(7, k) }); n != 0 {
		t.Errorf("Get allocates %v times", n)
	}
}
