package memsink_test

import (
	"context"
	"math"
	"testing"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/memsink"
	"github.com/chorusml/chorus/sinks/sinktest"
)

type harness struct{ st *memsink.Store }

func (h *harness) NewSink(context.Context) (sinks.Sink, error) { return memsink.Open(h.st), nil }

func (h *harness) ReadAll(context.Context) ([]sinks.Result, error) { return h.st.Rows(), nil }

func (h *harness) BadRow(r sinks.Result) (sinks.Result, bool) {
	r.SentimentScore = math.NaN()
	return r, true
}

func (h *harness) Close() {}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(ctx context.Context, t testing.TB) (sinktest.Harness, error) {
		return &harness{st: memsink.New().Store}, nil
	})
}
