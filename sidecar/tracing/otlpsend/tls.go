package otlpsend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// loadTLS builds the client TLS configuration of c: Certificate replaces
// the system roots (as OTEL_EXPORTER_OTLP_CERTIFICATE does for the
// official exporters), and ClientCertificate with ClientKey is presented
// for mTLS. Every error names the file it is about.
func loadTLS(c Config) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.Certificate != "" {
		data, err := os.ReadFile(c.Certificate)
		if err != nil {
			return nil, fmt.Errorf("otlpsend: Certificate: %w", err) // *PathError names the file
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("otlpsend: Certificate %s: no PEM certificate in it", c.Certificate)
		}
		conf.RootCAs = pool
	}
	switch {
	case c.ClientCertificate == "" && c.ClientKey == "":
	case c.ClientCertificate == "" || c.ClientKey == "":
		return nil, errors.New("otlpsend: ClientCertificate and ClientKey go together; only one is set")
	default:
		certPEM, err := os.ReadFile(c.ClientCertificate)
		if err != nil {
			return nil, fmt.Errorf("otlpsend: ClientCertificate: %w", err)
		}
		keyPEM, err := os.ReadFile(c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("otlpsend: ClientKey: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("otlpsend: ClientCertificate %s with ClientKey %s: %w", c.ClientCertificate, c.ClientKey, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}
