package memsource_test

import (
	"context"
	"testing"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/memsource"
	"github.com/chorusml/chorus/sources/sourcetest"
)

type harness struct{ topic *memsource.Topic }

func newHarness(context.Context, testing.TB) (sourcetest.Harness, error) {
	return harness{memsource.NewTopic(memsource.TopicOptions{MaxDeliveries: 5})}, nil
}

func (h harness) NewSource(_ context.Context, fc sources.FlowControl) (sources.Source, error) {
	return memsource.NewSource(h.topic, fc), nil
}

func (h harness) Publish(ctx context.Context, msgs []sourcetest.RawMessage) error {
	out := make([]memsource.Message, len(msgs))
	for i, m := range msgs {
		out[i] = memsource.Message{Body: m.Body, Attributes: m.Attributes}
	}
	return h.topic.Publish(ctx, out...)
}

func (h harness) DeadLetters(context.Context) ([]sourcetest.RawMessage, error) {
	dls := h.topic.DeadLetters()
	out := make([]sourcetest.RawMessage, len(dls))
	for i, d := range dls {
		out[i] = sourcetest.RawMessage{Body: d.Body, Attributes: d.Attributes}
	}
	return out, nil
}

func (harness) Capabilities() sourcetest.Capabilities {
	return sourcetest.Capabilities{
		Attributes:      true,
		DeliveryAttempt: true,
		NackDelay:       true,
		Ordered:         true,
		LatePublish:     true,
		MaxDeliveries:   5,
	}
}

func (harness) Close() {}

func TestConformance(t *testing.T) {
	sourcetest.Run(t, newHarness)
}

func BenchmarkReceiveAck(b *testing.B) {
	sourcetest.Benchmark(b, newHarness, 100)
}
