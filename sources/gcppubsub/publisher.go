package gcppubsub

import (
	"context"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// MaxMessageBytes is Pub/Sub's limit on one message.
const MaxMessageBytes = 10_000_000

// PublisherOptions configures a Publisher.
type PublisherOptions struct {
	// Ordered publishes with ordering keys (sources.OutMessage.OrderingKey);
	// without it the keys are ignored. Real Pub/Sub only keeps the order
	// of messages published through one regional endpoint.
	Ordered bool
	// ClientOptions are passed to pubsub.NewClient (endpoint, credentials).
	// The client also honours PUBSUB_EMULATOR_HOST.
	ClientOptions []option.ClientOption
}

// Publisher publishes to one topic with the client's batching. It
// implements sources.Publisher and is safe for concurrent use.
type Publisher struct {
	client  *pubsub.Client
	topic   *pubsub.Publisher
	ordered bool

	mu     sync.RWMutex // Publish holds it shared while it queues messages
	closed bool
}

var _ sources.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher to topic, a topic ID in project or a full
// "projects/P/topics/T" name. It does not check that the topic exists: that
// needs more than the publisher role, and the first Publish says so.
func NewPublisher(ctx context.Context, project, topic string, o PublisherOptions) (*Publisher, error) {
	if project == "" || topic == "" {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "gcppubsub: project and topic are required")
	}
	client, err := pubsub.NewClient(ctx, project, o.ClientOptions...)
	if err != nil {
		return nil, classify("new client", err)
	}
	t := client.Publisher(topic)
	// Bigger batches than the client's default (100 messages, 1 MB): a
	// backfill publishes thousands at once, and the delay keeps a trickle
	// prompt.
	t.PublishSettings.DelayThreshold = 10 * time.Millisecond
	t.PublishSettings.CountThreshold = pubsub.MaxPublishRequestCount
	t.PublishSettings.ByteThreshold = 5_000_000
	t.EnableMessageOrdering = o.Ordered
	return &Publisher{client: client, topic: t, ordered: o.Ordered}, nil
}

// Publish implements sources.Publisher: it queues every message with the
// client, which batches them, then waits for each result. On error ids
// holds the IDs of the messages Pub/Sub confirmed and "" for the others,
// and the error is the first failure, classified. A failed ordering key is
// resumed before Publish returns, so a retry of its messages can go
// through (in order, if the caller republishes them in order).
func (p *Publisher) Publish(ctx context.Context, msgs []sources.OutMessage) ([]string, error) {
	ids := make([]string, len(msgs))
	if len(msgs) == 0 {
		return ids, nil
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ids, errClosed("publish")
	}
	results := make([]*pubsub.PublishResult, len(msgs))
	for i, m := range msgs {
		pm := &pubsub.Message{Data: m.Body, Attributes: m.Attributes}
		if p.ordered {
			pm.OrderingKey = m.OrderingKey
		}
		results[i] = p.topic.Publish(ctx, pm)
	}
	p.mu.RUnlock()

	var (
		first  error
		failed int
		paused map[string]bool
	)
	for i, r := range results {
		id, err := r.Get(ctx)
		if err == nil {
			ids[i] = id
			continue
		}
		failed++
		if first == nil {
			first = err
		}
		if k := msgs[i].OrderingKey; p.ordered && k != "" {
			if paused == nil {
				paused = map[string]bool{}
			}
			paused[k] = true
		}
	}
	for k := range paused {
		p.topic.ResumePublish(k)
	}
	if first != nil {
		return ids, classify(fmt.Sprintf("publish: %d of %d failed", failed, len(msgs)), first)
	}
	return ids, nil
}

// MaxMessageBytes implements sources.Publisher.
func (p *Publisher) MaxMessageBytes() int { return MaxMessageBytes }

// Close implements sources.Publisher: it flushes what is queued and waits
// for it until ctx ends, then closes the client. Calling it again returns
// nil.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	flushed := make(chan struct{})
	go func() {
		p.topic.Stop()
		close(flushed)
	}()
	var flushErr error
	select {
	case <-flushed:
	case <-ctx.Done():
		// Stop goes on in the background until the client's own publish
		// timeout (60 s) gives up on what it still retries.
		flushErr = fmt.Errorf("gcppubsub: close publisher: flushing: %w", ctx.Err())
	}
	if err := p.client.Close(); err != nil && flushErr == nil {
		return classify("close publisher", err)
	}
	return flushErr
}
