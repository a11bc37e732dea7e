// Package tlstest makes certificate authorities and certificates for tests
// of TLS termination: a CA, server and client certificates it signs, PEM
// files, and the atomic symlink swap Kubernetes uses to update a mounted
// secret.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// serials gives every certificate of a test binary its own serial number.
var serials atomic.Int64

// CA is a certificate authority. It is safe for concurrent use.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA returns a new self-signed CA named name, valid for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Pool returns a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM returns the CA certificate in PEM.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Leaf is an issued certificate and its key.
type Leaf struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Options shape an issued certificate. The zero value is a server
// certificate for localhost and 127.0.0.1, valid from an hour ago for a day.
type Options struct {
	// Hosts are DNS names and IP addresses; nil means localhost, 127.0.0.1.
	Hosts []string
	// Client makes a client certificate (ExtKeyUsageClientAuth) named CN.
	Client bool
	CN     string
	// NotBefore and NotAfter override the validity.
	NotBefore, NotAfter time.Time
}

// Issue signs a new certificate.
func (ca *CA) Issue(o Options) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serials.Add(1)),
		Subject:      pkix.Name{CommonName: o.CN},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if o.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		hosts := o.Hosts
		if hosts == nil {
			hosts = []string{"localhost", "127.0.0.1"}
		}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: key}, nil
}

// CertPEM returns the certificate in PEM.
func (l *Leaf) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.Cert.Raw})
}

// KeyPEM returns the private key in PEM (PKCS #8).
func (l *Leaf) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(l.Key)
	if err != nil {
		panic(err) // an ECDSA P-256 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TLS returns the pair as a tls.Certificate (for a client certificate).
func (l *Leaf) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.Key, Leaf: l.Cert}
}

// Write writes the certificate and key to certFile and keyFile.
func (l *Leaf) Write(certFile, keyFile string) error {
	if err := os.WriteFile(certFile, l.CertPEM(), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, l.KeyPEM(), 0o600)
}

// SecretDir lays out files the way the kubelet mounts a secret: dir/NAME
// is a symlink to ..data/NAME, and ..data a symlink to a directory of the
// current version. Update swaps ..data atomically, as the kubelet does.
type SecretDir struct {
	Dir string
	n   int
}

// NewSecretDir returns an empty SecretDir in dir.
func NewSecretDir(dir string) *SecretDir { return &SecretDir{Dir: dir} }

// Path returns the stable path of file name.
func (s *SecretDir) Path(name string) string { return filepath.Join(s.Dir, name) }

// Update writes a new version with the given files and switches to it in
// one rename.
func (s *SecretDir) Update(files map[string][]byte) error {
	s.n++
	version := fmt.Sprintf("..v%d", s.n)
	vdir := filepath.Join(s.Dir, version)
	if err := os.Mkdir(vdir, 0o700); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(vdir, name), b, 0o600); err != nil {
			return err
		}
		link := filepath.Join(s.Dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				return err
			}
		}
	}
	tmp := filepath.Join(s.Dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(version, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.Dir, "..data"))
}

// UpdatePair writes leaf as tls.crt and tls.key (cert-manager's names).
func (s *SecretDir) UpdatePair(l *Leaf) error {
	return s.Update(map[string][]byte{"tls.crt": l.CertPEM(), "tls.key": l.KeyPEM()})
}
