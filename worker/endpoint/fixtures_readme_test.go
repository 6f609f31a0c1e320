package endpoint_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/protocols/README.md from the manifests")

// fixture is one manifest entry of testdata/protocols/<protocol>/manifest.json.
type fixture struct {
	File      string `json:"file"`
	Status    int    `json:"status"`
	Server    string `json:"server"`
	Kind      string `json:"kind"`
	Version   string `json:"version"`
	Origin    string `json:"origin"`
	Changed   string `json:"changed"`
	Describes string `json:"describes"`
}

const protocolsDir = "../../testdata/protocols"

// The fixtures' README is where a reader finds each body's origin; it is
// made from the manifests the adapters' tests replay, so the two cannot
// drift apart. Run with -update after changing a manifest.
func TestProtocolFixturesREADME(t *testing.T) {
	want := protocolsREADME(t)
	path := filepath.Join(protocolsDir, "README.md")
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is not what the manifests say: run go test ./worker/endpoint -run TestProtocolFixturesREADME -update", path)
	}
}

func protocolsREADME(t *testing.T) string {
	t.Helper()
	dirs, err := os.ReadDir(protocolsDir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`# Model-server wire fixtures

Real request, response and error bodies of the model servers Chorus
speaks, copied from each server's own published spec, docs, tests and
source (never invented). Each protocol's folder holds one file per body,
` + "`manifest.json`" + ` (status, headers, where it came from and what was changed)
and ` + "`WIRE.md`" + ` (notes on the format). The adapters' tests replay every
manifest entry against the real client over HTTP and fail on an unused one.

This file is generated from the manifests:
` + "`go test ./worker/endpoint -run TestProtocolFixturesREADME -update`" + `.
`)
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(protocolsDir, d.Name(), "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Fixtures []fixture }
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s/manifest.json: %v", d.Name(), err)
		}
		sort.SliceStable(m.Fixtures, func(i, j int) bool { return m.Fixtures[i].File < m.Fixtures[j].File })
		fmt.Fprintf(&b, "\n## %s\n\n| file | server | kind | status | what it shows | origin | changed |\n|---|---|---|---|---|---|---|\n", d.Name())
		for _, f := range m.Fixtures {
			if _, err := os.Stat(filepath.Join(protocolsDir, d.Name(), f.File)); err != nil {
				t.Errorf("%s/manifest.json lists %s: %v", d.Name(), f.File, err)
			}
			if f.Origin == "" {
				t.Errorf("%s/%s has no origin", d.Name(), f.File)
			}
			server := f.Server
			if f.Version != "" {
				server += " " + f.Version
			}
			status := ""
			if f.Status != 0 {
				status = fmt.Sprint(f.Status)
			}
			changed := f.Changed
			if changed == "" {
				changed = "nothing"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", f.File, cell(server), cell(f.Kind), status, cell(f.Describes), cell(f.Origin), cell(changed))
		}
	}
	return b.String()
}

// cell keeps a value inside its markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
