package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/router"
)

// ---------------------------------------------------------------------------
// 1. Every chorus config under deploy/ passes `chorus config validate`.

// chorusConfig is a chorus config found under deploy/: a file, or a key of a
// ConfigMap document.
type chorusConfig struct {
	name string // path relative to deploy/, plus "#ConfigMap/key" for embedded ones
	data []byte
}

func TestDeployConfigs(t *testing.T) {
	configs := findChorusConfigs(t)
	if len(configs) < 6 {
		t.Fatalf("found %d chorus configs under deploy/, expected the examples, both Kubernetes overlays and both Cloud Run configs", len(configs))
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			validateLikeCLI(t, c)
		})
	}
}

// findChorusConfigs walks deploy/ and returns every chorus config, and fails
// on a YAML document it cannot classify, so a new file gets checked or is
// noticed.
func findChorusConfigs(t *testing.T) []chorusConfig {
	t.Helper()
	var out []chorusConfig
	for _, path := range yamlFiles(t) {
		rel := relDeploy(path)
		docs, err := readYAMLDocs(path)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		base := filepath.Base(path)
		for i, d := range docs {
			switch {
			case base == "kustomization.yaml" || base == "kustomization.yml":
			case isChorusConfig(d):
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if len(docs) > 1 {
					t.Fatalf("%s: a chorus config must be the file's only document", rel)
				}
				out = append(out, chorusConfig{name: rel, data: data})
			case str(d, "apiVersion") != "" && str(d, "kind") != "":
				if str(d, "kind") != "ConfigMap" {
					continue
				}
				for key, v := range mp(d, "data") {
					s, _ := v.(string)
					if !strings.HasSuffix(key, ".yaml") && !strings.HasSuffix(key, ".yml") {
						continue
					}
					var m obj
					if err := yaml.Unmarshal([]byte(s), &m); err == nil && isChorusConfig(m) {
						out = append(out, chorusConfig{name: fmt.Sprintf("%s#%s/%s", rel, str(d, "metadata", "name"), key), data: []byte(s)})
					}
				}
			default:
				t.Errorf("%s: document %d is neither a Kubernetes or Cloud Run object, a kustomization nor a chorus config", rel, i)
			}
		}
	}
	return out
}

func isChorusConfig(d obj) bool {
	_, hasSource := d["source"]
	_, hasKind := d["kind"]
	return hasSource && !hasKind
}

// validateLikeCLI runs `chorus config validate` on c, with every variable
// the config names set to a dummy value.
func validateLikeCLI(t *testing.T, c chorusConfig) {
	t.Helper()
	cfg, err := config.Parse(c.data, permissiveEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, name := range configEnvVars(cfg) {
		t.Setenv(name, "deploy-test-dummy")
	}
	if missing := missingTLSFiles(cfg); len(missing) > 0 {
		// Example configs point at certificates of a real host. Everything
		// but loading them is still checked.
		t.Logf("TLS files %v are not on this machine: checking without loading them", missing)
		cfg, err := config.Parse(c.data, os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := router.New(cfg); err != nil {
			t.Fatal(err)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, c.data, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := dispatch(context.Background(), []string{"config", "validate", path}, &out, &errOut); err != nil {
		t.Fatalf("chorus config validate: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), ": ok") {
		t.Fatalf("chorus config validate printed %q", out.String())
	}
}

// permissiveEnv sets every variable except the config's environment
// overrides, which would replace the file's values.
func permissiveEnv(name string) string {
	for _, o := range config.EnvOverrides() {
		if o.Var == name {
			return ""
		}
	}
	return "deploy-test-dummy"
}

// configEnvVars lists the environment variables cfg needs set at start-up.
func configEnvVars(cfg *config.Config) []string {
	var names []string
	if cfg.Sink.Type == "postgres" {
		names = append(names, cfg.Sink.Postgres.DSNEnv)
	}
	for _, m := range cfg.Models {
		if m.Auth.BearerTokenEnv != "" {
			names = append(names, m.Auth.BearerTokenEnv)
		}
		for _, v := range m.Auth.HeadersEnv {
			names = append(names, v)
		}
	}
	sort.Strings(names)
	return slices.Compact(names)
}

func missingTLSFiles(cfg *config.Config) []string {
	var missing []string
	for _, m := range cfg.Models {
		for _, f := range []string{m.TLS.CAFile, m.TLS.CertFile, m.TLS.KeyFile} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, f)
			}
		}
	}
	return missing
}
