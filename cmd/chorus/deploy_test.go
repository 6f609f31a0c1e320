package main

// These tests keep deploy/ from rotting: every config there passes `chorus
// config validate`, every container runs a real subcommand with real flags
// and mounts the config it names, probes and scalers agree with that
// config, the Grafana dashboard queries only metrics the binary exports,
// and the Terraform BigQuery table matches the sink's schema. They read
// files only: no cluster, cloud or Docker engine is needed.
//
// The checks live by concern: deploy_configs_test.go (configs validate),
// deploy_containers_test.go (containers, probes, grace periods, scalers)
// with deploy_cli_test.go (the command line they are checked against) and
// deploy_render_test.go (kustomize overlays and Cloud Run files rendered
// into units), deploy_grafana_test.go (dashboard queries),
// deploy_terraform_test.go (the Terraform checks) with deploy_hcl_test.go
// (Terraform evaluated in process). This file holds what they share.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const deployDir = "../../deploy"

// cloudRunGrace is how long Cloud Run waits between SIGTERM and SIGKILL; it
// cannot be configured.
const cloudRunGrace = 10 * time.Second

// drainMargin is what a pod's grace period needs beyond worker.drain_timeout:
// flushing the sink and the acks, and a long poll in progress.
const drainMargin = 10 * time.Second

// obj is one decoded YAML or JSON document.
type obj = map[string]any

// ---------------------------------------------------------------------------
// Helpers.

func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(deployDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func relDeploy(p string) string {
	r, err := filepath.Rel(deployDir, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

// readYAMLDocs decodes every document of a YAML stream.
func readYAMLDocs(path string) ([]obj, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []obj
	for {
		var d obj
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

func get(m obj, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(obj)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func str(m obj, keys ...string) string {
	switch v := get(m, keys...).(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func mp(m obj, keys ...string) obj {
	v, _ := get(m, keys...).(obj)
	return v
}

func list(m obj, keys ...string) []any {
	v, _ := get(m, keys...).([]any)
	return v
}

func strs(m obj, keys ...string) []string {
	var out []string
	for _, v := range list(m, keys...) {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func num(m obj, keys ...string) (int, bool) {
	v, ok := get(m, keys...).(int)
	return v, ok
}

func boolean(m obj, keys ...string) bool {
	v, _ := get(m, keys...).(bool)
	return v
}
