package gcppubsub_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/gcppubsub"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
	"github.com/chorusml/chorus/sources/sourcetest"
)

var (
	_ sourcetest.LeaseHarness = (*harness)(nil)
	_ sourcetest.KeyedHarness = keyedHarness{}
)

// maxDeliveries is the harness subscriptions' dead-letter policy: the
// lowest Pub/Sub allows, which the suite accepts too.
const maxDeliveries = 5

// harness is one case's queue: a topic, a subscription with a dead-letter
// policy, and a dead-letter topic with a subscription to read it. The
// subscription's policy and the Source's explicit dead letters share the
// dead-letter topic, as in a deployment.
type harness struct {
	srv                    *pubsubtest.Server
	caps                   sourcetest.Capabilities
	topic, sub, dlq, dlSub string
	// streamDeadline is Options.MaxExtensionPeriod, which is also the ack
	// deadline of a message the server has pushed into a stream.
	streamDeadline time.Duration

	mu   sync.Mutex
	dead []pubsubtest.Received
}

// newHarnessMaker makes harnesses on one server; names only need to be
// unique within it.
func newHarnessMaker(srv *pubsubtest.Server, caps sourcetest.Capabilities) sourcetest.HarnessMaker {
	var seq atomic.Int64
	return func(ctx context.Context, _ testing.TB) (sourcetest.Harness, error) {
		n := seq.Add(1)
		h := &harness{
			srv:   srv,
			caps:  caps,
			topic: fmt.Sprintf("jobs-%d", n),
			sub:   fmt.Sprintf("jobs-%d-sub", n),
			dlq:   fmt.Sprintf("jobs-%d-dlq", n),
			dlSub: fmt.Sprintf("jobs-%d-dlq-sub", n),
		}
		if srv.Kind() == pubsubtest.KindFake {
			// pstest pushes a message every 10 ms into any stream it has
			// not yet seen end, so a message nacked as a Source closes
			// sometimes lands in the closing stream and waits out the
			// stream's ack deadline (60 s by default) before it comes
			// back, longer than a case may take. The real service rejects
			// a deadline under 10 s; the fake takes 2 s.
			h.streamDeadline = 2 * time.Second
		} else {
			// The emulator takes nothing under 10s; without it a lost
			// lease lasts the client's adaptive extension (up to 60s).
			h.streamDeadline = 10 * time.Second
		}
		for _, t := range []string{h.topic, h.dlq} {
			if err := srv.CreateTopic(ctx, t); err != nil {
				return nil, err
			}
		}
		if err := srv.CreateSubscription(ctx, h.dlSub, h.dlq, pubsubtest.SubOpts{}); err != nil {
			return nil, err
		}
		// On pstest message ordering is on, as for a deployment whose
		// publishers use ordering keys; it orders only keyed messages, so
		// the cases without keys see a plain subscription. The emulator
		// (0.8.20) never applies the dead-letter policy of an ordered
		// subscription (max_deliveries finds no dead letter), and across a
		// nack it requeues a key's messages in the order of the client's
		// nack batch, not publish order (see TestOrderingKeys): its
		// harness offers no ordering keys, and the key-order cases skip.
		ordered := srv.Kind() == pubsubtest.KindFake
		err := srv.CreateSubscription(ctx, h.sub, h.topic, pubsubtest.SubOpts{DeadLetterTopic: h.dlq, MaxDeliveryAttempts: maxDeliveries, Ordering: ordered})
		if ordered {
			return keyedHarness{h}, err
		}
		return h, err
	}
}

func (h *harness) NewSource(ctx context.Context, fc sources.FlowControl) (sources.Source, error) {
	return gcppubsub.Open(ctx, gcppubsub.Options{
		Project:            h.srv.Project(),
		Subscription:       h.sub,
		DeadLetterTopic:    h.dlq,
		FlowControl:        fc,
		MaxExtensionPeriod: h.streamDeadline,
		ClientOptions:      h.srv.ClientOptions(),
	})
}

func (h *harness) Publish(ctx context.Context, msgs []sourcetest.RawMessage) error {
	out := make([]pubsubtest.Message, len(msgs))
	for i, m := range msgs {
		out[i] = pubsubtest.Message{Data: m.Body, Attributes: m.Attributes}
	}
	_, err := h.srv.Publish(ctx, h.topic, out...)
	return err
}

// keyedHarness is a harness on an ordered subscription.
type keyedHarness struct{ *harness }

// PublishKeyed implements sourcetest.KeyedHarness: the key is the
// ordering key.
func (h keyedHarness) PublishKeyed(ctx context.Context, msgs []sourcetest.KeyedMessage) error {
	out := make([]pubsubtest.Message, len(msgs))
	for i, m := range msgs {
		out[i] = pubsubtest.Message{Data: m.Body, Attributes: m.Attributes, OrderingKey: m.Key}
	}
	_, err := h.srv.Publish(ctx, h.topic, out...)
	return err
}

// Lease implements sourcetest.LeaseHarness: the ack deadline of a message
// in a stream, which the client must keep extending while the worker holds
// the message.
func (h *harness) Lease() time.Duration { return h.streamDeadline }

// DeadLetters reads the dead-letter subscription and keeps what it read:
// the suite asks for everything so far, and a pull acks.
func (h *harness) DeadLetters(ctx context.Context) ([]sourcetest.RawMessage, error) {
	got, err := h.srv.PullAll(ctx, h.dlSub)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dead = append(h.dead, got...)
	pubsubtest.SortOldestFirst(h.dead)
	out := make([]sourcetest.RawMessage, len(h.dead))
	for i, d := range h.dead {
		out[i] = sourcetest.RawMessage{Body: d.Data, Attributes: d.Attributes}
	}
	return out, err
}

func (h *harness) Capabilities() sourcetest.Capabilities { return h.caps }

// Close leaves the topics: the server goes away with the test.
func (h *harness) Close() {}

// capabilities is what both servers offer through this driver; both lease
// messages (harness.Lease), and pstest orders by ordering key
// (keyedHarness). Neither orders messages without ordering keys, and the harness subscriptions
// carry a dead-letter policy, which is what makes Pub/Sub count delivery
// attempts.
func capabilities(srv *pubsubtest.Server) sourcetest.Capabilities {
	caps := sourcetest.Capabilities{
		Attributes:      true,
		DeliveryAttempt: true,
		NackDelay:       true,
		LatePublish:     true,
		MaxDeliveries:   maxDeliveries,
	}
	if srv.Kind() == pubsubtest.KindEmulator {
		caps.Quiet = 500 * time.Millisecond
		// A message the emulator pushes into a stream that is closing stays
		// leased until its deadline: 10s at least there, so give the cases
		// room for one lost lease.
		caps.CaseTimeout = 40 * time.Second
	}
	return caps
}

func TestConformance(t *testing.T) {
	t.Run("pstest", func(t *testing.T) {
		srv := pubsubtest.NewFake(t)
		sourcetest.Run(t, newHarnessMaker(srv, capabilities(srv)))
	})
	t.Run("emulator", func(t *testing.T) {
		srv := pubsubtest.StartEmulator(t)
		sourcetest.Run(t, newHarnessMaker(srv, capabilities(srv)))
	})
}
