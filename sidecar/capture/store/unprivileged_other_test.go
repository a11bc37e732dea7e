//go:build !unix

package store

import "testing"

func asUnprivileged(t *testing.T) bool { return false }
