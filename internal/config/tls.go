package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// TLSFiles is a TLS client section: pulse_tls, or temporal.tls. The files
// are read and checked at load, so a wrong path stops the process at start
// rather than at its first connection.
type TLSFiles struct {
	// CAFile is ca_file: PEM certificates to trust instead of the system's.
	CAFile string
	// CertFile and KeyFile are cert_file and key_file: the client
	// certificate (PEM) and its private key, for servers that require one.
	CertFile string
	KeyFile  string
	// ServerName is server_name (temporal.tls only): the name the server's
	// certificate must carry when it differs from the address's host.
	ServerName string

	built *tls.Config
}

// Enabled reports whether the section sets anything.
func (f TLSFiles) Enabled() bool { return f.built != nil }

// ClientConfig returns the tls.Config the section describes, or nil when
// the section is absent (plain TCP, or the system's roots for amqps://).
// Each call returns a fresh copy.
func (f TLSFiles) ClientConfig() *tls.Config {
	if f.built == nil {
		return nil
	}
	return f.built.Clone()
}

// readTLS reads a TLS section; withServerName allows server_name.
func readTLS(o *object, withServerName bool) (TLSFiles, error) {
	var f TLSFiles
	var err error
	if f.CAFile, _, err = o.str("ca_file"); err != nil {
		return f, err
	}
	if f.CertFile, _, err = o.str("cert_file"); err != nil {
		return f, err
	}
	if f.KeyFile, _, err = o.str("key_file"); err != nil {
		return f, err
	}
	if withServerName {
		if f.ServerName, _, err = o.str("server_name"); err != nil {
			return f, err
		}
	}
	if f.CAFile == "" && f.CertFile == "" && f.KeyFile == "" && f.ServerName == "" {
		return f, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return f, fmt.Errorf("config: %s: %v", o.key("ca_file"), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return f, fmt.Errorf("config: %s: %s holds no PEM certificate", o.key("ca_file"), f.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case f.CertFile != "" && f.KeyFile == "":
		return f, fmt.Errorf("config: %s: missing (%s is set; a client certificate needs its key)", o.key("key_file"), o.key("cert_file"))
	case f.KeyFile != "" && f.CertFile == "":
		return f, fmt.Errorf("config: %s: missing (%s is set; a key needs its client certificate)", o.key("cert_file"), o.key("key_file"))
	case f.CertFile != "":
		certPEM, err := os.ReadFile(f.CertFile)
		if err != nil {
			return f, fmt.Errorf("config: %s: %v", o.key("cert_file"), err)
		}
		if _, err := x509.ParseCertificate(firstCertificate(certPEM)); err != nil {
			return f, fmt.Errorf("config: %s: %s holds no PEM certificate", o.key("cert_file"), f.CertFile)
		}
		keyPEM, err := os.ReadFile(f.KeyFile)
		if err != nil {
			return f, fmt.Errorf("config: %s: %v", o.key("key_file"), err)
		}
		// The certificate is good, so what fails here is the key (unreadable,
		// or not the certificate's); the error never quotes the key's bytes.
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return f, fmt.Errorf("config: %s: %v (%s)", o.key("key_file"), err, o.key("cert_file"))
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	f.built = cfg
	return f, nil
}

// firstCertificate returns the DER bytes of the first CERTIFICATE block of
// a PEM file, or nil.
func firstCertificate(data []byte) []byte {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes
		}
	}
}
