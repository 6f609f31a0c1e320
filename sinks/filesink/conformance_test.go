package filesink_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sinks/sinktest"
)

type harness struct {
	path string
	opts filesink.Options
}

func (h harness) NewSink(context.Context) (sinks.Sink, error) { return filesink.Open(h.path, h.opts) }

func (h harness) ReadAll(context.Context) ([]sinks.Result, error) { return filesink.ReadAll(h.path) }

func (harness) BadRow(r sinks.Result) (sinks.Result, bool) {
	r.Tenant = ""
	return r, true
}

func (harness) Close() {}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		opts filesink.Options
	}{
		{"append_only", filesink.Options{}},
		{"compact_on_close", filesink.Options{CompactOnClose: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sinktest.Run(t, func(_ context.Context, t testing.TB) (sinktest.Harness, error) {
				return harness{path: filepath.Join(t.TempDir(), "results.jsonl"), opts: tc.opts}, nil
			})
		})
	}
}
