package refmodel

import (
	"errors"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	chorus "github.com/chorusml/chorus"
)

// fixtureFS is chorus.Data's layout with the real sentiment file and this
// package's small topics fixtures.
func fixtureFS(t testing.TB) fstest.MapFS {
	return fstest.MapFS{
		SentimentFile:  {Data: amazon(t)},
		TopicsFile:     {Data: fixture(t, "topics.tsv")},
		AcmeTopicsFile: {Data: fixture(t, "acme-topics.tsv")},
	}
}

func TestLoadAll(t *testing.T) {
	models, err := LoadAll(fixtureFS(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name   string
		labels []string
		multi  bool
	}{
		{NameSentimentVader, []string{LabelNegative, LabelNeutral, LabelPositive}, false},
		{NameSentimentNB, []string{LabelNegative, LabelPositive}, false},
		{NameTopics, TopicLabels(), true},
		{NameAcmeTopics, AcmeTopicLabels(), true},
	}
	if len(models) != len(want) {
		t.Fatalf("LoadAll returned %d models, want %d", len(models), len(want))
	}
	for i, w := range want {
		m := models[i]
		if m.Name() != w.name || !slices.Equal(m.Labels(), w.labels) || m.MultiLabel() != w.multi || len(m.Version()) != 12 {
			t.Errorf("model %d: %s %v multi=%v version %q; want %s %v multi=%v", i, m.Name(), m.Labels(), m.MultiLabel(), m.Version(), w.name, w.labels, w.multi)
		}
	}
}

func TestLoadAllMissingFile(t *testing.T) {
	fsys := fixtureFS(t)
	delete(fsys, AcmeTopicsFile)
	if _, err := LoadAll(fsys); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadAll error = %v, want fs.ErrNotExist", err)
	}
}

// TestLoadAllEmbedded loads the shipped training files. Until the topic
// files land in testdata/models it skips, saying so.
func TestLoadAllEmbedded(t *testing.T) {
	models, err := LoadAll(chorus.Data)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("training files not all in chorus.Data yet: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 4 {
		t.Errorf("LoadAll returned %d models, want 4", len(models))
	}
}

// TestPredictConcurrent runs every model from many goroutines at once (the
// race detector watches) and checks each call matches a serial one.
func TestPredictConcurrent(t *testing.T) {
	models, err := LoadAll(fixtureFS(t))
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"Support never answered and I was charged twice!",
		"Great phone, love it.",
		"",
		"The Slack integration doesn't work on the mobile app, and it's slow.",
		"Très rapide — 10/10 wouldn\u2019t change a thing",
	}
	for _, m := range models {
		want := m.Predict(texts)
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for range 8 {
			wg.Go(func() {
				for range 20 {
					for i, t := range texts {
						if got := m.Predict([]string{t}); !slices.Equal(got[0], want[i]) {
							errs <- m.Name() + ": " + t
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("concurrent Predict differs from serial: %s", e)
		}
	}
}
