package openinference_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
)

// fixtureDir holds real server answers, each recorded in manifest.json
// with its origin.
var fixtureDir = filepath.Join("..", "..", "..", "testdata", "protocols", "open-inference")

type manifestEntry struct {
	File      string          `json:"file"`
	Status    int             `json:"status"`
	Headers   json.RawMessage `json:"headers"`
	Server    string          `json:"server"`
	Kind      string          `json:"kind"`
	Origin    string          `json:"origin"`
	Changed   string          `json:"changed"`
	Describes string          `json:"describes"`
}

// header reads the entry's headers, written either as name: value or
// name: [values].
func (e manifestEntry) header() http.Header {
	h := http.Header{}
	var one map[string]string
	if json.Unmarshal(e.Headers, &one) == nil {
		for k, v := range one {
			h.Set(k, v)
		}
		return h
	}
	var many map[string][]string
	if json.Unmarshal(e.Headers, &many) == nil {
		for k, vs := range many {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	}
	return h
}

// loadManifest reads the manifest, an array of entries or an object
// holding one under "fixtures"; ok is false while it is not collected.
func loadManifest(t *testing.T) (entries map[string]manifestEntry, ok bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "manifest.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var list []manifestEntry
	if err := json.Unmarshal(b, &list); err != nil {
		var wrapped struct {
			Fixtures []manifestEntry `json:"fixtures"`
		}
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			t.Fatalf("manifest.json: %v", err)
		}
		list = wrapped.Fixtures
	}
	entries = make(map[string]manifestEntry, len(list))
	for _, e := range list {
		if e.File == "" || e.Origin == "" {
			t.Errorf("manifest entry %+v has no file or origin", e)
		}
		entries[e.File] = e
	}
	return entries, true
}

func readFixture(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixtureCase replays one fixture against the client: an infer answer
// (Predict) or a metadata answer (Start).
type fixtureCase struct {
	file     string
	opts     openinference.Options
	metadata bool
	texts    int
	// Expected outcome: scores and version, or an error classification
	// and a part of its message.
	scores  [][]float64
	version string
	err     *adaptertest.Want
	msg     string
}

// fixtureCases names every fixture in the manifest; TestFixtures fails on
// a fixture no case uses.
var fixtureCases = []fixtureCase{}

func TestFixtures(t *testing.T) {
	entries, ok := loadManifest(t)
	if !ok {
		t.Skipf("%s/manifest.json is not there yet: the fixtures are being collected", fixtureDir)
	}
	used := map[string]bool{}
	for _, tc := range fixtureCases {
		used[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			e, ok := entries[tc.file]
			if !ok {
				t.Fatalf("%s is not in manifest.json", tc.file)
			}
			status := e.Status
			if status == 0 {
				status = 200
			}
			srv := adaptertest.Serve(t, status, e.header(), readFixture(t, tc.file))
			c, err := openinference.New(adaptertest.Spec(srv.URL), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var scores [][]float64
			var version string
			if tc.metadata {
				info, err2 := c.Start(adaptertest.Context(t))
				err, version = err2, info.Version
			} else {
				n := tc.texts
				if n == 0 {
					n = 1
				}
				texts := make([]string, n)
				for i := range texts {
					texts[i] = "txt"
				}
				res, err2 := c.Predict(adaptertest.Context(t), texts)
				err = err2
				if res != nil {
					scores, version = res.Scores, res.Version
				}
			}
			if tc.err != nil {
				adaptertest.Check(t, err, *tc.err)
				if err != nil && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.scores != nil && !near(scores, tc.scores) {
				t.Errorf("scores %v, want %v", scores, tc.scores)
			}
			if version != tc.version {
				t.Errorf("version %q, want %q", version, tc.version)
			}
		})
	}
	for file := range entries {
		if !used[file] {
			t.Errorf("fixture %s in manifest.json is used by no case", file)
		}
	}
}
