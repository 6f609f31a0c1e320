package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/errkind"
)

// wholeBatchSink fails a whole write when any row's response id has the
// poison prefix, with err: a sink that cannot say which row is bad.
type wholeBatchSink struct {
	sinks.Sink
	poison string
	err    error
}

func (s wholeBatchSink) Write(ctx context.Context, rows []sinks.Result) error {
	for _, r := range rows {
		if strings.HasPrefix(r.ResponseID, s.poison) {
			return s.err
		}
	}
	return s.Sink.Write(ctx, rows)
}

func fastSinkRetry(cfg *config.Config) {
	r := &cfg.Sink.Batch.Retry
	r.MaxAttempts, r.Backoff.Initial, r.Backoff.Max, r.MaxElapsed = 2, time.Millisecond, 2*time.Millisecond, time.Second
	cfg.Sink.Batch.MaxRows = 32
}

// A batch the sink refuses for its data, without naming the row, is halved
// until the bad row stands alone: it is dead-lettered on its first
// delivery and every other row commits.
func TestSinkBatchRefusedForDataIsBisected(t *testing.T) {
	bad := errkind.New(errkind.InvalidInput, "bad_row", errors.New("value too long for column"))
	h := newHarness(t, harnessOpts{edit: fastSinkRetry, wrapSink: func(s sinks.Sink) sinks.Sink {
		return wholeBatchSink{Sink: s, poison: "poison", err: bad}
	}})
	bodies := globexJobs(40)
	bodies[13] = jobJSON("globex", "poison-1", texts[0])
	h.publish(bodies...)
	h.start()
	h.waitSettled(20 * time.Second)
	if n := len(h.sink.Rows()); n != 39 {
		t.Errorf("%d rows, want 39", n)
	}
	dls := h.topic.DeadLetters()
	if len(dls) != 1 || dls[0].Attributes[sources.AttrErrorClass] != string(worker.ReasonSinkRejected) || dls[0].Attributes[sources.AttrDeliveryAttempt] != "1" {
		t.Fatalf("dead letters %+v, want one sink_rejected at attempt 1", dls)
	}
	if !strings.Contains(string(dls[0].Body), "poison-1") {
		t.Errorf("dead letter %s is not the poison row's job", dls[0].Body)
	}
}

// An error nobody classified is retried within the sink's policy, then
// handled as a failed delivery (nack, attempts counted, dead letter at the
// limit), never held forever.
func TestSinkUnknownErrorIsBounded(t *testing.T) {
	h := newHarness(t, harnessOpts{edit: func(cfg *config.Config) {
		fastSinkRetry(cfg)
		cfg.Worker.MaxDeliveryAttempts = 2
	}, wrapSink: func(s sinks.Sink) sinks.Sink {
		return wholeBatchSink{Sink: s, poison: "weird", err: errors.New("something odd")}
	}})
	h.publish(jobJSON("globex", "weird-1", texts[0]))
	h.start()
	h.waitSettled(20 * time.Second)
	if n := testutil.ToFloat64(h.m.MessagesNacked); n < 1 {
		t.Errorf("%v nacks, want the failed write to count as a failed delivery", n)
	}
	dls := h.topic.DeadLetters()
	if len(dls) != 1 || dls[0].Attributes[sources.AttrDeliveryAttempt] != "2" {
		t.Fatalf("dead letters %+v, want one at attempt 2", dls)
	}
	if err := h.w.Health(); err != nil && strings.Contains(err.Error(), "sink") {
		t.Errorf("Health = %v: an unknown error must not leave the sink held", err)
	}
}
