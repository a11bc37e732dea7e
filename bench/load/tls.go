package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"time"

	"github.com/faultline-dev/faultline/sidecar/tlsconf"
)

// writeSelfSigned writes the certificate and key every TLS twin serves:
// faultline's own --tls-self-signed kind (ECDSA P-256) for 127.0.0.1, so
// that nginx and faultline do the same signature work per handshake.
func writeSelfSigned(dir string) (certFile, keyFile string, err error) {
	pair, err := tlsconf.SelfSigned(time.Now(), []string{"127.0.0.1", "localhost"})
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]}), 0o644); err != nil {
		return "", "", err
	}
	// nginx reads it as root before dropping privileges.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}
