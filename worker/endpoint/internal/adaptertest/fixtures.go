package adaptertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// Fixture is one entry of a protocol's testdata/protocols/<protocol>/
// manifest.json: a recorded body with its status, headers and origin.
type Fixture struct {
	File    string            `json:"file"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Server  string            `json:"server"`
	Kind    string            `json:"kind"`
	Origin  string            `json:"origin"`
}

// Header is the fixture's headers with their names as recorded: KServe
// writes inference-header-content-length in lower case, and a replay
// sends it so.
func (f Fixture) Header() http.Header {
	h := http.Header{}
	for k, v := range f.Headers {
		h[k] = []string{v}
	}
	return h
}

// StatusOrOK is the recorded status, 200 when none is recorded.
func (f Fixture) StatusOrOK() int {
	if f.Status == 0 {
		return http.StatusOK
	}
	return f.Status
}

// Manifest reads dir/manifest.json ({"fixtures": [...]}) by file name.
// An entry without a file or an origin is an error: every body must say
// where it came from.
func Manifest(dir string) (map[string]Fixture, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m struct {
		Fixtures []Fixture `json:"fixtures"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	out := make(map[string]Fixture, len(m.Fixtures))
	for _, f := range m.Fixtures {
		if f.File == "" || f.Origin == "" {
			return nil, fmt.Errorf("%s/manifest.json: entry %+v has no file or origin", dir, f)
		}
		out[f.File] = f
	}
	return out, nil
}

// ReadFixture returns file's manifest entry and body.
func ReadFixture(dir, file string) (Fixture, string, error) {
	entries, err := Manifest(dir)
	if err != nil {
		return Fixture{}, "", err
	}
	f, ok := entries[file]
	if !ok {
		return Fixture{}, "", fmt.Errorf("%s is not in %s/manifest.json", file, dir)
	}
	body, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return Fixture{}, "", err
	}
	return f, string(body), nil
}

// FixtureReply is a recorded answer as a Reply: status, headers, body.
func FixtureReply(dir, file string) (Reply, error) {
	f, body, err := ReadFixture(dir, file)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Name: file, Status: f.Status, Header: f.Header(), Body: body}, nil
}

// CheckFixtures fails t unless the fixtures in dir and the cases that
// replay them agree: every manifest entry is used by some case, every case
// uses a listed fixture, and every file in dir (but manifest.json and
// WIRE.md) is listed.
func CheckFixtures(t testing.TB, dir string, used map[string]bool) {
	t.Helper()
	m, err := Manifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for file := range m {
		if !used[file] {
			t.Errorf("fixture %s is in manifest.json but no case replays it", file)
		}
	}
	for file := range used {
		if _, ok := m[file]; !ok {
			t.Errorf("a case uses %s, which manifest.json does not list", file)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n != "manifest.json" && n != "WIRE.md" {
			if _, ok := m[n]; !ok {
				t.Errorf("%s is not in manifest.json", n)
			}
		}
	}
}
