package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Reason maps a failed handshake's error to one of the bounded values of
// metricnames.TLSHandshakeReasons.
//
// crypto/tls reports some failures as typed errors (a record that is not
// TLS, a certificate that does not verify, an alert from the peer) and the
// rest only as messages; those messages have been stable since Go 1.x and
// an unknown one falls to TLSReasonOther, never to a new label value.
func Reason(err error) string {
	if err == nil {
		return mn.TLSReasonOther
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return mn.TLSReasonNotTLS
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		var ua x509.UnknownAuthorityError
		if errors.As(cv.Err, &ua) {
			return mn.TLSReasonUnknownCA
		}
		return mn.TLSReasonBadCertificate
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return alertReason(op.Err.Error())
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return mn.TLSReasonTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return mn.TLSReasonTimeout
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return mn.TLSReasonEOF
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "client didn't provide a certificate"):
		return mn.TLSReasonNoCertificate
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version"):
		return mn.TLSReasonProtocolVersion
	case strings.Contains(msg, "no cipher suite"), strings.Contains(msg, "no ECDHE curve"),
		strings.Contains(msg, "no mutually supported"), strings.Contains(msg, "no key exchanges"):
		return mn.TLSReasonNoSharedCipher
	case strings.Contains(msg, "certificate"):
		return mn.TLSReasonBadCertificate
	}
	return mn.TLSReasonOther
}

// alertReasons maps the text of the alerts a client sends when it refuses
// the handshake. The texts are crypto/tls's own (tls.AlertError.Error).
var alertReasons = func() map[string]string {
	m := map[string]string{}
	set := func(reason string, codes ...uint8) {
		for _, c := range codes {
			m[tls.AlertError(c).Error()] = reason
		}
	}
	set(mn.TLSReasonUnknownCA, 48)                          // unknown_ca
	set(mn.TLSReasonBadCertificate, 42, 43, 44, 45, 46, 49) // bad, unsupported, revoked, expired, unknown certificate; access denied
	set(mn.TLSReasonNoCertificate, 116)                     // certificate_required
	set(mn.TLSReasonProtocolVersion, 70)                    // protocol_version
	set(mn.TLSReasonNoSharedCipher, 71)                     // insufficient_security
	set(mn.TLSReasonEOF, 0, 90)                             // close_notify, user_canceled
	return m
}()

func alertReason(text string) string {
	if r, ok := alertReasons[text]; ok {
		return r
	}
	return mn.TLSReasonOther
}
