package metricnames

// TLS handshake failure reasons (LabelReason of TLSHandshakeErrorsTotal).
// The sidecar maps every handshake error to one of them, so the series
// count stays fixed whatever clients send.
const (
	// TLSReasonUnknownCA: a certificate was signed by a CA the other side
	// does not trust (the client's, under --tls-client-ca, or ours, as the
	// client reported in an alert).
	TLSReasonUnknownCA = "unknown_ca"
	// TLSReasonBadCertificate: a certificate was refused for another
	// reason: expired, wrong name, wrong usage, revoked, malformed.
	TLSReasonBadCertificate = "bad_certificate"
	// TLSReasonNoCertificate: mTLS is on and the client sent no certificate.
	TLSReasonNoCertificate = "no_certificate"
	// TLSReasonProtocolVersion: the client offers only versions below TLS 1.2.
	TLSReasonProtocolVersion = "protocol_version"
	// TLSReasonNoSharedCipher: no cipher suite, curve or signature scheme
	// in common.
	TLSReasonNoSharedCipher = "no_shared_cipher"
	// TLSReasonNotTLS: the client did not speak TLS (plain HTTP gets a 400).
	TLSReasonNotTLS = "not_tls"
	// TLSReasonEOF: the client closed or reset the connection mid-handshake
	// (port scanners, load balancer TCP checks).
	TLSReasonEOF = "eof"
	// TLSReasonTimeout: the handshake did not finish in time.
	TLSReasonTimeout = "timeout"
	// TLSReasonOther: anything else.
	TLSReasonOther = "other"
)

// TLSHandshakeReasons lists every value of LabelReason of
// TLSHandshakeErrorsTotal.
var TLSHandshakeReasons = []string{
	TLSReasonUnknownCA, TLSReasonBadCertificate, TLSReasonNoCertificate, TLSReasonProtocolVersion,
	TLSReasonNoSharedCipher, TLSReasonNotTLS, TLSReasonEOF, TLSReasonTimeout, TLSReasonOther,
}
