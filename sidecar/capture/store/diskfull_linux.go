package store

import (
	"errors"
	"syscall"
)

// minFree is the free space below which a failing open is put down to a
// full disk: SQLite reports a full tmpfs as a plain I/O error when it
// cannot grow its shared-memory file, without the errno.
const minFree = 1 << 20

// diskFull reports whether err, from creating or opening the store in
// dir, comes from a full filesystem rather than from a configuration
// error. A read-only filesystem is never full: it is a configuration error.
func diskFull(dir string, err error) bool {
	if errors.Is(err, syscall.EROFS) {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || isFull(err) {
		return true
	}
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil || st.Flags&stRdonly != 0 {
		return false
	}
	return st.Bavail*uint64(st.Bsize) < minFree
}

// stRdonly is ST_RDONLY of statfs(2)'s f_flags.
const stRdonly = 0x1
