package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Access is what requests to one model need beyond its URL: headers whose
// values come from the environment and a TLS config built from files. It
// holds secrets: never log it.
type Access struct {
	// Headers, canonicalised (http.CanonicalHeaderKey), from auth.headers,
	// auth.headers_env and auth.bearer_token_env (as Authorization).
	Headers map[string]string
	// TLS is nil when the model sets no tls fields: the system defaults.
	TLS *tls.Config
}

// ResolveModel builds the Access for the named model, reading auth env vars
// through getenv and TLS files from disk (paths relative to the working
// directory). It is per model so that a model no job needs costs nothing.
// Errors are an Errors naming the fields.
func (c *Config) ResolveModel(name string, getenv func(string) string) (Access, error) {
	for i := range c.Models {
		if c.Models[i].Name == name {
			var e errs
			a := c.Models[i].resolve(fmt.Sprintf("models[%d]", i), getenv, &e)
			return a, e.err()
		}
	}
	return Access{}, fmt.Errorf("resolve model %q: not configured", name)
}

// Resolve builds the Access of every model, by name, reporting all problems
// at once; `chorus config validate` uses it to check secrets and TLS files.
func (c *Config) Resolve(getenv func(string) string) (map[string]Access, error) {
	var e errs
	out := make(map[string]Access, len(c.Models))
	for i := range c.Models {
		m := &c.Models[i]
		out[m.Name] = m.resolve(fmt.Sprintf("models[%d]", i), getenv, &e)
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Model) resolve(p string, getenv func(string) string, e *errs) Access {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	a := Access{Headers: map[string]string{}}
	for k, v := range m.Auth.Headers {
		a.Headers[http.CanonicalHeaderKey(k)] = v
	}
	// Trimmed because secrets mounted from files often end in a newline,
	// which net/http would refuse in a header.
	secret := func(path, env string) (string, bool) {
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			e.addf(path, "environment variable %s is unset or empty", env)
		}
		return v, v != ""
	}
	for _, k := range sortedKeys(m.Auth.HeadersEnv) {
		if v, ok := secret(p+".auth.headers_env."+k, m.Auth.HeadersEnv[k]); ok {
			a.Headers[http.CanonicalHeaderKey(k)] = v
		}
	}
	if env := m.Auth.BearerTokenEnv; env != "" {
		if v, ok := secret(p+".auth.bearer_token_env", env); ok {
			a.Headers["Authorization"] = "Bearer " + v
		}
	}
	a.TLS = m.TLS.config(p+".tls", e)
	return a
}

func (t TLS) config(p string, e *errs) *tls.Config {
	if t == (TLS{}) {
		return nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	if t.CAFile != "" {
		// The CA file replaces the system roots: a private CA is the reason
		// to set it, and trusting both would widen what is accepted.
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(t.CAFile); err != nil {
			e.add(p+".ca_file", err)
		} else if !pool.AppendCertsFromPEM(pem) {
			e.addf(p+".ca_file", "no PEM certificates in %s", t.CAFile)
		} else {
			cfg.RootCAs = pool
		}
	}
	switch {
	case t.CertFile == "" && t.KeyFile == "":
	case t.CertFile == "" || t.KeyFile == "":
		e.add(p, errors.New("cert_file and key_file must be set together"))
	default:
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			e.addf(p+".cert_file", "load key pair: %w", err)
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	return cfg
}
