// Package mtls gives the members of one cluster run mutual TLS: a CA made
// for the run signs one certificate per member, and every link between
// members requires a certificate of that CA on both ends.
//
// The CA's private key lives only in memory while Issue runs, so nobody can
// mint a member certificate after the run started. Members' keys are
// written, owner-only, under the run directory and go away with it.
package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// caFile is the run CA's certificate in a directory written by Issue.
const caFile = "ca.pem"

// validity is how long issued certificates are valid (runs and soaks are
// shorter); the hour of back-dating absorbs clock skew between processes.
const (
	validity = 7 * 24 * time.Hour
	backdate = time.Hour
)

// Identity is one member's certificate and key with the run CA it trusts.
type Identity struct {
	// Name is the member the certificate names (its common name and only
	// DNS name).
	Name string
	// Dir is the directory the identity was loaded from.
	Dir  string
	cert tls.Certificate
	pool *x509.CertPool
}

// Issue makes a CA for the run and a certificate for each member in dir
// (created 0700): ca.pem, and <member>.pem and <member>.key (0600) per
// member. The CA key is discarded.
func Issue(dir string, members ...string) error {
	if len(members) == 0 {
		return errors.New("mtls: no members")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mtls: create %s: %w", dir, err)
	}
	ca, caKey, err := newCA("chaosrun run CA")
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, caFile), "CERTIFICATE", ca.Raw, 0o644); err != nil {
		return err
	}
	for _, m := range members {
		if err := validMember(m); err != nil {
			return err
		}
		der, key, err := newLeaf(m, ca, caKey)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, m+".pem"), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("mtls: encode key of %s: %w", m, err)
		}
		if err := writePEM(filepath.Join(dir, m+".key"), "PRIVATE KEY", kder, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Load reads member's identity from a directory written by Issue.
func Load(dir, member string) (*Identity, error) {
	if err := validMember(member); err != nil {
		return nil, err
	}
	certFile, keyFile := CertFiles(dir, member)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("mtls: load identity of %s from %s: %w", member, dir, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return nil, fmt.Errorf("mtls: read run CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("mtls: %s holds no certificate", filepath.Join(dir, caFile))
	}
	return &Identity{Name: member, Dir: dir, cert: cert, pool: pool}, nil
}

// LoadOptional is Load, or nil (plaintext) when dir is empty.
func LoadOptional(dir, member string) (*Identity, error) {
	if dir == "" {
		return nil, nil
	}
	return Load(dir, member)
}

// CertFiles returns the paths of member's certificate and key in dir.
func CertFiles(dir, member string) (cert, key string) {
	return filepath.Join(dir, member+".pem"), filepath.Join(dir, member+".key")
}

// CAFile returns the path of the run CA's certificate in dir.
func CAFile(dir string) string { return filepath.Join(dir, caFile) }

// ServerConfig is the TLS configuration of a member's listener: it presents
// the member's certificate and admits only clients with a certificate of
// the run CA.
func (id *Identity) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    id.pool,
	}
}

// ClientConfig is the TLS configuration for dialing member server: it
// presents this member's certificate and accepts only server's
// certificate of the run CA, whatever address it was reached at (proxies
// and namespaces change addresses, not names).
func (id *Identity) ClientConfig(server string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		ServerName:   server,
		// NB: verification is replaced, not skipped. gRPC and etcd's
		// client set the TLS server name from the address they dial (an IP
		// here), so the name is checked in VerifyConnection instead.
		InsecureSkipVerify: true,
		VerifyConnection:   func(st tls.ConnectionState) error { return id.verifyServer(st, server) },
	}
}

// verifyServer checks that the server's certificate chains to the run CA
// and names member server.
func (id *Identity) verifyServer(st tls.ConnectionState, server string) error {
	if len(st.PeerCertificates) == 0 {
		return errors.New("mtls: server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := st.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: id.pool, Intermediates: inter, DNSName: server,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("mtls: server is not member %s of this run: %w", server, err)
	}
	return nil
}

// PeerName returns the member named by a verified peer certificate, or
// false when the connection carried none.
func PeerName(st tls.ConnectionState) (string, bool) {
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return "", false
	}
	return st.VerifiedChains[0][0].Subject.CommonName, true
}

// Member returns the member a node id belongs to: node ids are
// "<member>" or, after a rejoin or restart under a new id,
// "<member>.<suffix>", and the certificate names the member.
func Member(nodeID string) string {
	m, _, _ := strings.Cut(nodeID, ".")
	return m
}

func validMember(m string) error {
	if m == "" || strings.ContainsAny(m, "./\\\x00") {
		return fmt.Errorf("mtls: bad member name %q", m)
	}
	return nil
}

func newCA(name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, key, err := sign(tmpl, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("mtls: parse CA: %w", err)
	}
	return ca, key, nil
}

// newLeaf signs a certificate for member m, usable as server and client.
func newLeaf(m string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey, error) {
	return sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: m},
		DNSNames:    []string{m},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
}

// sign makes a key and signs tmpl (its serial and validity filled in) with
// parent's key, or with the new key itself when parent is nil (the CA).
func sign(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey, error) {
	name := tmpl.Subject.CommonName
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("mtls: key of %s: %w", name, err)
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)); err != nil {
		return nil, nil, fmt.Errorf("mtls: serial of %s: %w", name, err)
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-backdate), now.Add(validity)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("mtls: sign certificate of %s: %w", name, err)
	}
	return der, key, nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("mtls: write %s: %w", path, err)
	}
	return nil
}
