package disk

import (
	"cmp"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
)

// tmpPrefix names files being written; Open deletes any it finds, left by
// a crash.
const tmpPrefix = ".tmp-"

// scanners read directories in parallel at Open: the scan waits on the
// disk more than on the CPU.
const scanners = 8

// found is a file the scan kept.
type found struct {
	h      uint64
	stored int64
	m      meta
}

// rebuild indexes the files in t's directories from their headers alone.
// The last-use order is not saved, so it is rebuilt from write times:
// the oldest write is evicted first.
func (t *Tier) rebuild() error {
	var (
		mu       sync.Mutex
		all      []found
		corrupt  int
		firstErr error
		wg       sync.WaitGroup
		dirs     = make(chan int)
	)
	for range scanners {
		wg.Go(func() {
			buf := make([]byte, headerRead)
			for i := range dirs {
				got, bad, err := t.scanDir(i, buf)
				mu.Lock()
				all = append(all, got...)
				corrupt += bad
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for i := range 256 {
		dirs <- i
	}
	close(dirs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	t.stats.corrupt.Add(uint64(corrupt))
	slices.SortFunc(all, func(a, b found) int { return cmp.Compare(a.stored, b.stored) })
	for _, f := range all {
		t.gen++
		f.m.gen = t.gen
		if t.lru.Add(f.h, f.m) {
			t.stats.evictions.Add(1)
		}
		t.used += cost(f.m.size)
	}
	t.shrink()
	return nil
}

// scanDir indexes subdirectory i, deleting temporary and damaged files.
// Files it does not recognise as its own it leaves alone.
func (t *Tier) scanDir(i int, buf []byte) (got []found, bad int, err error) {
	dir := t.subdir(i)
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil // made on first write
	}
	if err != nil {
		return nil, 0, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, 0, err
	}
	for _, name := range names {
		full := dir + string(os.PathSeparator) + name
		if len(name) > len(tmpPrefix) && name[:len(tmpPrefix)] == tmpPrefix {
			os.Remove(full)
			continue
		}
		h, ok := parseName(name)
		if !ok || int(h>>56) != i {
			continue
		}
		hd, err := readHeader(full, buf)
		if err == nil && int64(hd.total) > t.opts.MaxEntryBytes {
			err = ErrTooLarge // the per-entry cap shrank
		}
		if err != nil {
			if errors.Is(err, errCorrupt) {
				bad++
			}
			os.Remove(full)
			continue
		}
		got = append(got, found{h: h, stored: hd.stored, m: meta{expires: hd.expires, size: uint32(hd.total)}})
	}
	return got, bad, nil
}

// readHeader reads and checks the header of the file at path. buf is
// scratch space; a header longer than it is read again in full.
func readHeader(path string, buf []byte) (header, error) {
	f, err := os.Open(path)
	if err != nil {
		return header{}, err
	}
	defer f.Close()
	b := buf
	n, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return header{}, err
	}
	h, err := decodeHeader(b[:n])
	if err == errShort && n == len(b) && h.hdrLen > n {
		b = make([]byte, h.hdrLen)
		if n, err = f.ReadAt(b, 0); err != nil && err != io.EOF {
			return header{}, err
		}
		h, err = decodeHeader(b[:n])
	}
	if err == errShort {
		err = errCorrupt // truncated within its header
	}
	// A short read saw the whole file: its size must be the header's. A
	// longer file's body is checked when it is read.
	if err == nil && (n < len(b) && h.total != n || h.total < n) {
		err = errCorrupt
	}
	return h, err
}

// parseName parses a file name written by path: 16 lower-case hex digits.
func parseName(name string) (uint64, bool) {
	if len(name) != 16 {
		return 0, false
	}
	var h uint64
	for i := range len(name) {
		c := name[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		h = h<<4 | uint64(c)
	}
	return h, true
}
