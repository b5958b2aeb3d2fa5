package bus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Cursor keeps the stream sequence of the last purge a follower applied,
// so that it can resume there after a disconnect or a restart.
type Cursor interface {
	// Load returns the saved sequence, 0 when none was saved.
	Load() (uint64, error)
	// Save records seq as applied.
	Save(seq uint64) error
}

// FileCursor keeps the sequence in a small text file at path. A missing
// file loads as 0. Save writes a temporary file beside it and renames it
// over path, so a crash leaves the old or the new value, never a mix.
// It does not fsync: a value lost to a power cut loads as an older one or
// as 0, which only makes Follow replay more (or Reset), never skip.
func FileCursor(path string) Cursor { return &fileCursor{path: path} }

type fileCursor struct {
	mu   sync.Mutex
	path string
}

func (c *fileCursor) Load() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bus: cursor %s: %w", c.path, err)
	}
	return n, nil
}

func (c *fileCursor) Save(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := os.CreateTemp(filepath.Dir(c.path), "."+filepath.Base(c.path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatUint(seq, 10) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// MemCursor is a Cursor in memory: it survives reconnects, not restarts.
type MemCursor struct {
	mu  sync.Mutex
	seq uint64
}

// Load returns the last saved sequence.
func (c *MemCursor) Load() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq, nil
}

// Save records seq.
func (c *MemCursor) Save(seq uint64) error {
	c.mu.Lock()
	c.seq = seq
	c.mu.Unlock()
	return nil
}
