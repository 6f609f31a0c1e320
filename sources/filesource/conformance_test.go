package filesource_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/filesource"
	"github.com/chorusml/chorus/sources/sourcetest"
)

// harness publishes by appending lines; the suite opens a Source only
// after publishing, as LatePublish is false.
type harness struct{ path string }

func newHarness(_ context.Context, t testing.TB) (sourcetest.Harness, error) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	return harness{path}, os.WriteFile(path, nil, 0o644)
}

func (h harness) NewSource(_ context.Context, fc sources.FlowControl) (sources.Source, error) {
	return filesource.Open(h.path, filesource.Options{FlowControl: fc, SyncInterval: 200 * time.Millisecond})
}

func (h harness) Publish(_ context.Context, msgs []sourcetest.RawMessage) error {
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if _, err := f.Write(append(m.Body, '\n')); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func (h harness) DeadLetters(context.Context) ([]sourcetest.RawMessage, error) {
	dls, err := filesource.ReadDeadLetters(h.path + ".deadletter.jsonl")
	out := make([]sourcetest.RawMessage, len(dls))
	for i, d := range dls {
		out[i] = sourcetest.RawMessage{Body: d.Body, Attributes: d.Attributes}
	}
	return out, err
}

func (harness) Capabilities() sourcetest.Capabilities {
	return sourcetest.Capabilities{DeliveryAttempt: true, NackDelay: true, Ordered: true}
}

func (harness) Close() {}

func TestConformance(t *testing.T) {
	sourcetest.Run(t, newHarness)
}

func BenchmarkReceiveAck(b *testing.B) {
	sourcetest.Benchmark(b, newHarness, 100)
}
