package eventstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the file under a data directory that its user holds locked.
const lockFile = "LOCK"

// ErrDataDirInUse: another process holds the data directory.
var ErrDataDirInUse = errors.New("the data directory is in use by another latchkey process")

// LockDataDir takes the data directory for this process alone, until
// unlock (or the process's end). nats-server does not lock its file store:
// two servers on one directory would both acknowledge writes that one of
// them then overwrites.
func LockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrDataDirInUse)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
