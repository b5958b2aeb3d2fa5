package disk

import (
	"encoding/binary"
	"errors"

	"github.com/cespare/xxhash/v2"

	"github.com/refract-cdn/refract/edge/cache"
)

// A file holds one entry, little-endian:
//
//	off  size  field
//	0    4     magic "RFDK"
//	4    2     version (1)
//	6    2     reserved, 0
//	8    4×7   lengths of key, content type, ETag, Cache-Control, Vary,
//	           Content-Disposition, error
//	36   4     body length
//	40   8     asset hash
//	48   8     stored, unix ns
//	56   8     expires, unix ns (0: never)
//	64   …     the seven fields, in that order
//	     8     header sum: xxhash64 of every byte above
//	     …     body
//	     8     file sum: xxhash64 of every byte above
//
// The header sum lets the start-up scan reject a damaged header without
// reading bodies; the file sum guards every read.
const (
	magic      = "RFDK"
	version    = 1
	fixedLen   = 64
	nfields    = 7
	maxFields  = 64 << 10 // bounds what a damaged length can make the scan read
	maxBody    = 1 << 30  // so that sizes fit an int on 32-bit platforms too
	sumLen     = 8
	headerRead = 4 << 10 // what the scan reads first: most headers fit
)

var (
	errShort   = errors.New("disk: short header")
	errCorrupt = errors.New("disk: corrupt entry")
)

var le = binary.LittleEndian

// header is a decoded header: what the index needs, and where the fields
// lie.
type header struct {
	lens    [nfields]uint32
	bodyLen uint32
	asset   uint64
	stored  int64
	expires int64
	hdrLen  int // fixed part, fields and header sum
	total   int // the file's size
}

// strs lists e's string fields in file order, after the key.
func strs(e *cache.Entry) [nfields - 1]string {
	return [...]string{e.ContentType, e.ETag, e.CacheControl, e.Vary, e.Disposition, e.Error}
}

// appendHeader appends e's header up to and including the header sum.
func appendHeader(b []byte, e *cache.Entry, expires int64) ([]byte, error) {
	ss := strs(e)
	n := len(e.Key)
	for _, s := range ss {
		n += len(s)
	}
	if n > maxFields || len(e.Body) > maxBody {
		return b, ErrTooLarge
	}
	start := len(b)
	b = append(b, magic...)
	b = le.AppendUint16(b, version)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, uint32(len(e.Key)))
	for _, s := range ss {
		b = le.AppendUint32(b, uint32(len(s)))
	}
	b = le.AppendUint32(b, uint32(len(e.Body)))
	b = le.AppendUint64(b, e.Asset)
	b = le.AppendUint64(b, uint64(e.Stored))
	b = le.AppendUint64(b, uint64(expires))
	b = append(b, e.Key...)
	for _, s := range ss {
		b = append(b, s...)
	}
	return le.AppendUint64(b, xxhash.Sum64(b[start:])), nil
}

// decodeHeader checks and decodes the header at the start of b, which may
// be a prefix of the file. errShort with a valid hdrLen asks for hdrLen
// bytes.
func decodeHeader(b []byte) (header, error) {
	var h header
	if len(b) < fixedLen {
		return h, errShort
	}
	if string(b[:4]) != magic || le.Uint16(b[4:]) != version || le.Uint16(b[6:]) != 0 {
		return h, errCorrupt
	}
	var n uint64 // 64 bits: seven lengths near 4 GiB must not wrap
	for i := range h.lens {
		h.lens[i] = le.Uint32(b[8+4*i:])
		n += uint64(h.lens[i])
	}
	h.bodyLen = le.Uint32(b[36:])
	if n > maxFields || h.bodyLen > maxBody {
		return h, errCorrupt
	}
	h.asset = le.Uint64(b[40:])
	h.stored = int64(le.Uint64(b[48:]))
	h.expires = int64(le.Uint64(b[56:]))
	h.hdrLen = fixedLen + int(n) + sumLen
	h.total = h.hdrLen + int(h.bodyLen) + sumLen
	if len(b) < h.hdrLen {
		return h, errShort
	}
	if le.Uint64(b[h.hdrLen-sumLen:]) != xxhash.Sum64(b[:h.hdrLen-sumLen]) {
		return h, errCorrupt
	}
	return h, nil
}

// decode checks a whole file and returns its entry and expiry. The entry
// shares b: Key and Body are slices of it, and its strings are one
// allocation, so a read costs the file's buffer and little else.
func decode(b []byte) (*cache.Entry, int64, error) {
	h, err := decodeHeader(b)
	if err != nil || len(b) != h.total {
		return nil, 0, errCorrupt
	}
	end := h.total - sumLen
	if le.Uint64(b[end:]) != xxhash.Sum64(b[:end]) {
		return nil, 0, errCorrupt
	}
	k := fixedLen + int(h.lens[0])
	e := &cache.Entry{
		Key:    b[fixedLen:k:k],
		Body:   b[h.hdrLen:end:end],
		Asset:  h.asset,
		Stored: h.stored,
	}
	s := string(b[k : h.hdrLen-sumLen])
	for i, p := range [...]*string{&e.ContentType, &e.ETag, &e.CacheControl, &e.Vary, &e.Disposition, &e.Error} {
		n := h.lens[i+1]
		*p, s = s[:n], s[n:]
	}
	return e, h.expires, nil
}
