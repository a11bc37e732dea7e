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
			return nil, &FileError{Field: "Certificate", Err: err} // *PathError names the file
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, &FileError{Field: "Certificate", Err: fmt.Errorf("%s: no PEM certificate in it", c.Certificate)}
		}
		conf.RootCAs = pool
	}
	switch {
	case c.ClientCertificate == "" && c.ClientKey == "":
	case c.ClientCertificate == "" || c.ClientKey == "":
		field := "ClientCertificate"
		if c.ClientKey == "" {
			field = "ClientKey"
		}
		return nil, &FileError{Field: field, Err: errors.New("ClientCertificate and ClientKey go together; only one is set")}
	default:
		certPEM, err := os.ReadFile(c.ClientCertificate)
		if err != nil {
			return nil, &FileError{Field: "ClientCertificate", Err: err}
		}
		keyPEM, err := os.ReadFile(c.ClientKey)
		if err != nil {
			return nil, &FileError{Field: "ClientKey", Err: err}
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, &FileError{Field: "ClientKey", Err: fmt.Errorf("ClientCertificate %s with ClientKey %s: %w", c.ClientCertificate, c.ClientKey, err)}
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

// FileError is a certificate or key file of Config that cannot be used:
// Field names it (Certificate, ClientCertificate or ClientKey), so that
// the caller can name the setting it came from.
type FileError struct {
	Field string
	Err   error
}

func (e *FileError) Error() string { return "otlpsend: " + e.Field + ": " + e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }
