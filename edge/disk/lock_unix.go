//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package disk

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir, held while the returned file is
// open: two tiers in one directory would each delete the other's temporary
// files at start and together exceed the cap.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: %s is in use: %w", dir, err)
	}
	return f, nil
}
