package awssqs_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/awssqs/sqstest"
	"github.com/chorusml/chorus/sources/sourcetest"
)

// queueSeq names queues uniquely within one moto server.
var queueSeq atomic.Int64

// harness is one queue and its dead-letter queue on moto. The queue's
// redrive policy moves a message after maxReceives receives, and the
// dead-letter queue is where DeadLetter sends payloads too.
type harness struct {
	srv    *sqstest.Server
	client *sqs.Client
	opts   awssqs.Options
	pub    *awssqs.Publisher
	fifo   bool

	mu   sync.Mutex
	dead []sourcetest.RawMessage
	// srcs are the Sources the harness opened, for CheckLeases.
	srcs []*awssqs.Source
}

// fifoHarness is a harness on FIFO queues: it alone publishes with
// message groups, so it alone is a KeyedHarness; a standard queue keeps no
// order within a group.
type fifoHarness struct{ *harness }

const (
	maxReceives = 4
	// visibility is short so that most cases outlive it and the heartbeat
	// has to keep their messages invisible.
	visibility = 3 * time.Second
)

var (
	_ sourcetest.LeaseAuditor = (*harness)(nil)
	_ sourcetest.KeyedHarness = fifoHarness{}
)

// newHarnessMaker returns a HarnessMaker on srv whose sources ask for
// visibility timeout vis; fifo makes FIFO queues.
func newHarnessMaker(srv *sqstest.Server, fifo bool, vis time.Duration) sourcetest.HarnessMaker {
	return func(ctx context.Context, t testing.TB) (sourcetest.Harness, error) {
		n := queueSeq.Add(1)
		dlq, err := srv.CreateQueue(ctx, fmt.Sprintf("dlq-%d", n), sqstest.QueueOpts{FIFO: fifo})
		if err != nil {
			return nil, err
		}
		q, err := srv.CreateQueue(ctx, fmt.Sprintf("q-%d", n), sqstest.QueueOpts{FIFO: fifo, RedriveTo: dlq, MaxReceiveCount: maxReceives})
		if err != nil {
			return nil, err
		}
		client := srv.Client(t)
		pub, err := awssqs.NewPublisher(client, q, awssqs.PublisherOptions{})
		if err != nil {
			return nil, err
		}
		// moto does not lock a FIFO message group across concurrent
		// receives: two pollers can both be handed messages of one group,
		// and the replies can arrive out of order, which real SQS never
		// does. One poller keeps FIFO cases about the driver, not moto.
		pollers := 2
		if fifo {
			pollers = 1
		}
		h := &harness{
			srv: srv, client: client, pub: pub, fifo: fifo,
			opts: awssqs.Options{
				QueueURL:           q,
				DeadLetterQueueURL: dlq,
				Pollers:            pollers,
				WaitTime:           time.Second,
				VisibilityTimeout:  vis,
			},
		}
		if fifo {
			return fifoHarness{h}, nil
		}
		return h, nil
	}
}

func (h *harness) NewSource(_ context.Context, fc sources.FlowControl) (sources.Source, error) {
	o := h.opts
	o.FlowControl = fc
	s, err := awssqs.New(h.client, o)
	if err == nil {
		h.mu.Lock()
		h.srcs = append(h.srcs, s)
		h.mu.Unlock()
	}
	return s, err
}

func (h *harness) Publish(ctx context.Context, msgs []sourcetest.RawMessage) error {
	out := make([]sources.OutMessage, len(msgs))
	for i, m := range msgs {
		out[i] = sources.OutMessage{Body: m.Body, Attributes: m.Attributes}
		if h.fifo {
			// One group per message: the base suite expects no ordering
			// constraint between messages.
			out[i].OrderingKey = fmt.Sprintf("g-%d", queueSeq.Add(1))
		}
	}
	_, err := h.pub.Publish(ctx, out)
	return err
}

// PublishKeyed implements sourcetest.KeyedHarness: the key is the message
// group.
func (h fifoHarness) PublishKeyed(ctx context.Context, msgs []sourcetest.KeyedMessage) error {
	out := make([]sources.OutMessage, len(msgs))
	for i, m := range msgs {
		out[i] = sources.OutMessage{Body: m.Body, Attributes: m.Attributes, OrderingKey: m.Key}
	}
	_, err := h.pub.Publish(ctx, out)
	return err
}

// Lease implements sourcetest.LeaseHarness.
func (h *harness) Lease() time.Duration { return h.opts.VisibilityTimeout }

// CheckLeases implements sourcetest.LeaseAuditor: the heartbeat must have
// extended visibility, and no receipt handle may have been refused on the
// way (a refused handle is a lapsed lease).
func (h *harness) CheckLeases() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var total awssqs.Stats
	for _, s := range h.srcs {
		st := s.Stats()
		total.Extended += st.Extended
		total.HandleInvalid += st.HandleInvalid
		total.Duplicates += st.Duplicates
	}
	if total.HandleInvalid != 0 || total.Extended == 0 {
		return fmt.Errorf("sources' stats %+v: want extensions and no refused receipt handles", total)
	}
	return nil
}

func (h *harness) DeadLetters(ctx context.Context) ([]sourcetest.RawMessage, error) {
	got, err := h.srv.ReceiveAll(ctx, h.opts.DeadLetterQueueURL)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range got {
		h.dead = append(h.dead, sourcetest.RawMessage{Body: []byte(m.Body), Attributes: m.Attributes})
	}
	return slices.Clone(h.dead), err
}

// Capabilities are moto's, as measured (see TestMotoBehaviour): it
// delivers messages published while a source is open, counts receives
// (ApproximateReceiveCount), honours visibility changes to the
// millisecond, and redrives after maxReceives receives. Real SQS standard
// queues are at-least-once and may duplicate, and so does moto when
// receives race on a loaded machine (CI saw a message delivered twice
// through four receivers), so the suite allows duplicates; it still
// requires every message delivered. A nacked message reappears within
// about a second: moto's long poll looks again once a second unless a send
// wakes it.
func (h *harness) Capabilities() sourcetest.Capabilities {
	return sourcetest.Capabilities{
		Attributes:      true,
		DeliveryAttempt: true,
		NackDelay:       true,
		Ordered:         false,
		LatePublish:     true,
		MayDuplicate:    true,
		MaxDeliveries:   maxReceives,
		Quiet:           1500 * time.Millisecond,
		// moto is one Python process answering every call in turn; on a
		// loaded two-core machine 300 messages through four receivers
		// took longer than the default 10s.
		CaseTimeout: 30 * time.Second,
	}
}

func (h *harness) Close() {}

// TestConformance runs the suite on standard queues, lease cases
// included: they hold messages for 7.5s with a 3s visibility timeout, and
// the harness's CheckLeases holds the heartbeat to its counters.
func TestConformance(t *testing.T) {
	srv := sqstest.StartMoto(t)
	sourcetest.Run(t, newHarnessMaker(srv, false, visibility))
}

// TestConformanceFIFO runs the suite on FIFO queues, where the harness is
// also a KeyedHarness: message-group order through the source.
func TestConformanceFIFO(t *testing.T) {
	srv := sqstest.StartMoto(t)
	sourcetest.Run(t, newHarnessMaker(srv, true, visibility))
}
