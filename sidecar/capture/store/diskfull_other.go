//go:build !linux

package store

import (
	"errors"
	"syscall"
)

// diskFull reports whether err, from creating or opening the store, comes
// from a full filesystem rather than from a configuration error.
func diskFull(dir string, err error) bool {
	return errors.Is(err, syscall.ENOSPC) || isFull(err)
}
