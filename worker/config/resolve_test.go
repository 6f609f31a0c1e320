package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResolveHeaders(t *testing.T) {
	c := mustParse(t, baseYAML, nil)
	c.Models[0].Auth = Auth{
		BearerTokenEnv: "NB_TOKEN",
		HeadersEnv:     map[string]string{"x-api-key": "NB_KEY"},
		Headers:        map[string]string{"X-Client": "chorus"},
	}
	a, err := c.ResolveModel("sentiment-nb", env(map[string]string{
		"NB_TOKEN": "tok\n", // as mounted from a file
		"NB_KEY":   "key",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Authorization": "Bearer tok", "X-Api-Key": "key", "X-Client": "chorus"}
	if !equal(a.Headers, want) {
		t.Errorf("headers: got %v, want %v", a.Headers, want)
	}
	if a.TLS != nil {
		t.Errorf("TLS: got %+v, want nil (system defaults) with no tls fields", a.TLS)
	}
}

func TestResolveErrorsNameFields(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	writeFile(t, notPEM, "not a certificate")
	tests := []struct {
		name   string
		mutate func(m *Model)
		path   string
		msg    string
	}{
		{"bearer unset", func(m *Model) { m.Auth.BearerTokenEnv = "NB_TOKEN" },
			"models[0].auth.bearer_token_env", "environment variable NB_TOKEN is unset or empty"},
		{"bearer blank", func(m *Model) { m.Auth.BearerTokenEnv = "BLANK" },
			"models[0].auth.bearer_token_env", "environment variable BLANK is unset or empty"},
		{"header unset", func(m *Model) { m.Auth.HeadersEnv = map[string]string{"X-Key": "NB_KEY"} },
			"models[0].auth.headers_env.X-Key", "environment variable NB_KEY is unset or empty"},
		{"ca missing", func(m *Model) { m.TLS.CAFile = filepath.Join(dir, "missing.pem") },
			"models[0].tls.ca_file", "no such file"},
		{"ca not PEM", func(m *Model) { m.TLS.CAFile = notPEM },
			"models[0].tls.ca_file", "no PEM certificates in " + notPEM},
		{"key pair unreadable", func(m *Model) { m.TLS.CertFile, m.TLS.KeyFile = notPEM, notPEM },
			"models[0].tls.cert_file", "load key pair"},
		{"cert without key", func(m *Model) { m.TLS.CertFile = notPEM },
			"models[0].tls", "cert_file and key_file must be set together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, baseYAML, nil)
			tt.mutate(&c.Models[0])
			_, err := c.ResolveModel("sentiment-nb", env(map[string]string{"BLANK": "  "}))
			wantProblem(t, err, tt.path, tt.msg)
			_, err = c.Resolve(env(nil))
			wantProblem(t, err, tt.path, tt.msg)
		})
	}
}

func TestResolveUnknownModel(t *testing.T) {
	c := mustParse(t, baseYAML, nil)
	if _, err := c.ResolveModel("nope", nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("got %v, want an error naming the model", err)
	}
}

func TestResolveTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	c := mustParse(t, baseYAML, nil)
	c.Models[0].URL = "https://models.example.com"
	c.Models[0].TLS = TLS{CAFile: caFile, CertFile: certFile, KeyFile: keyFile, ServerName: "models.internal"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	all, err := c.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := all["sentiment-nb"].TLS
	if got == nil || got.RootCAs == nil || len(got.Certificates) != 1 || got.ServerName != "models.internal" || got.InsecureSkipVerify {
		t.Fatalf("TLS config: %+v", got)
	}
	if all["topics"].TLS != nil {
		t.Errorf("a model without tls fields got a TLS config")
	}
}

// writeTestPKI writes a self-signed CA and a client key pair signed by it.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey := newKey(), newKey()
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now, NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "chorus"},
		NotBefore: now, NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("client.pem", "CERTIFICATE", leafDER), write("client-key.pem", "EC PRIVATE KEY", keyDER)
}
