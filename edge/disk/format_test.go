package disk

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/refract-cdn/refract/edge/cache"
)

// encode is a whole file as Set writes it.
func encode(e *cache.Entry, expires int64) []byte {
	b, err := appendHeader(nil, e, expires)
	if err != nil {
		panic(err)
	}
	b = append(b, e.Body...)
	return le.AppendUint64(b, xxhash.Sum64(b))
}

func TestDecodeHeaderPrefixes(t *testing.T) {
	e := full(strings.Repeat("k", 5000), 100)
	b := encode(e, 42)
	h, err := decodeHeader(b[:headerRead])
	if !errors.Is(err, errShort) || h.hdrLen <= headerRead {
		t.Fatalf("a long header's prefix: %v, asks for %d bytes", err, h.hdrLen)
	}
	h, err = decodeHeader(b[:h.hdrLen])
	if err != nil || h.total != len(b) || h.expires != 42 || h.stored != e.Stored || h.asset != e.Asset {
		t.Fatalf("the whole header: %v, %+v", err, h)
	}
	if _, err := appendHeader(nil, &cache.Entry{Key: make([]byte, maxFields+1)}, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a header over the limit: %v", err)
	}
}

// TestLongHeaderSurvivesRestart covers the scan's second read, for a
// header longer than its first.
func TestLongHeaderSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir, 1<<20, Options{})
	e := full(strings.Repeat("k", 2*headerRead), 100)
	d.Set(3, e, time.Time{})
	d.Close()
	d = open(t, dir, 1<<20, Options{})
	mustGet(t, d, 3, e, time.Time{})
}

// FuzzDecodeHeader feeds the decoders arbitrary files: they must never
// panic, and a file they accept must be exactly what its entry encodes
// to. Each input is tried as is and with its sums made right, so that the
// fuzzer gets past them to the lengths.
func FuzzDecodeHeader(f *testing.F) {
	valid := encode(full("key", 50), 1)
	f.Add(valid)
	f.Add(valid[:fixedLen])
	f.Add(encode(&cache.Entry{}, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
		if b := withSums(b); b != nil {
			checkDecode(t, b)
		}
	})
}

func checkDecode(t *testing.T, b []byte) {
	h, err := decodeHeader(b)
	if err == nil && (h.hdrLen > len(b) || h.total < h.hdrLen+sumLen) {
		t.Fatalf("accepted a header of %d bytes in %d, total %d", h.hdrLen, len(b), h.total)
	}
	e, exp, err := decode(b)
	if err != nil {
		return
	}
	if re := encode(e, exp); !bytes.Equal(re, b) {
		t.Fatalf("decoded %q and encoded it as %q", b, re)
	}
}

// withSums returns a copy of b with the sums its lengths place put right,
// cut to the length they declare, or nil if they do not fit in b.
func withSums(b []byte) []byte {
	if len(b) < fixedLen {
		return nil
	}
	var n uint64
	for i := range nfields {
		n += uint64(le.Uint32(b[8+4*i:]))
	}
	body := uint64(le.Uint32(b[36:]))
	hdrLen := fixedLen + n + sumLen
	total := hdrLen + body + sumLen
	if total > uint64(len(b)) {
		return nil
	}
	c := bytes.Clone(b[:total])
	le.PutUint64(c[hdrLen-sumLen:], xxhash.Sum64(c[:hdrLen-sumLen]))
	le.PutUint64(c[total-sumLen:], xxhash.Sum64(c[:total-sumLen]))
	return c
}
