package tlsconf

import (
	"crypto/tls"
)

// Upstream returns the client configuration for an https upstream: the
// CAs of caFile (the system's when empty) and serverName as the name sent
// and verified (the URL's host when empty). Errors name the flags.
func Upstream(caFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pool, err := LoadCAs("--upstream-ca", caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
