package modelserver_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
)

// fakeModel scores a text by its length: label len%L gets 0.75, the rest
// share 0.25. Every value is exact in FP32, so answers compare exactly.
type fakeModel struct {
	name, version string
	labels        []string
	// gate, when set, blocks Predict until it is closed; active counts
	// Predict calls running now and peak the most at once.
	gate         chan struct{}
	active, peak atomic.Int64
}

var _ refmodel.Model = (*fakeModel)(nil)

func newFake(name string) *fakeModel {
	return &fakeModel{name: name, version: "v1", labels: []string{"negative", "neutral", "positive"}}
}

func (f *fakeModel) Name() string     { return f.name }
func (f *fakeModel) Version() string  { return f.version }
func (f *fakeModel) Labels() []string { return f.labels }
func (f *fakeModel) MultiLabel() bool { return false }

func (f *fakeModel) Predict(texts []string) [][]float64 {
	n := f.active.Add(1)
	defer f.active.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if f.gate != nil {
		<-f.gate
	}
	out := make([][]float64, len(texts))
	for i, t := range texts {
		out[i] = want(t, len(f.labels))
	}
	return out
}

func want(text string, l int) []float64 {
	row := make([]float64, l)
	for j := range row {
		row[j] = 0.25 / float64(l-1)
	}
	row[len(text)%l] = 0.75
	return row
}

func wantScores(texts []string) [][]float64 {
	out := make([][]float64, len(texts))
	for i, t := range texts {
		out[i] = want(t, 3)
	}
	return out
}

// ctx bounds a test so that a hang fails fast.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually polls cond until it holds or the test's context ends. It
// waits for a state, never measures time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	c := ctx(t)
	for !cond() {
		select {
		case <-c.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(time.Millisecond):
		}
	}
}

func stats(s *modelserver.Server) modelserver.Stats { return s.Stats("sentiment") }
