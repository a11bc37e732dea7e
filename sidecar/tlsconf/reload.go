package tlsconf

import (
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// fileID identifies the content of a file without reading it: where its
// symlinks lead, and the inode, size and modification time found there.
//
// Kubernetes updates a mounted secret by pointing the ..data symlink at a
// new directory, and cert-manager's files are such symlinks: the path
// given never changes, what it resolves to does. Polling the resolved
// path catches that, and works on every filesystem, where inotify on a
// symlink would watch the link itself.
type fileID struct {
	path     string
	dev, ino uint64
	size     int64
	mtime    time.Time
}

// filesID is the state of the certificate, key and client CA files.
type filesID [3]fileID

// statFiles returns the state of the files the options name. An error
// names the flag of the file that cannot be reached.
func statFiles(o Options) (filesID, error) {
	var ids filesID
	for i, f := range []struct{ setting, name string }{
		{"--tls-cert", o.CertFile}, {"--tls-key", o.KeyFile}, {"--tls-client-ca", o.ClientCAFile},
	} {
		if f.name == "" {
			continue
		}
		id, err := statFile(f.name)
		if err != nil {
			return ids, fileError(f.setting, err)
		}
		ids[i] = id
	}
	return ids, nil
}

func statFile(name string) (fileID, error) {
	resolved, err := filepath.EvalSymlinks(name)
	if err != nil {
		return fileID{}, err
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return fileID{}, err
	}
	id := fileID{path: resolved, size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), uint64(st.Ino)
	}
	return id, nil
}
