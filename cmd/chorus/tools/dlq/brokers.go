package dlq

import (
	"context"
	"time"

	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/gcppubsub"
)

// deadLetterReader is what a source driver's dead-letter reader does
// (awssqs.DeadLetterReader, gcppubsub.DeadLetterReader): the broker's side
// of Reader, in the drivers' neutral message type.
type deadLetterReader interface {
	Receive(ctx context.Context, limit int, wait time.Duration) ([]sources.DLQMessage, error)
	Ack(ctx context.Context, msgs []sources.DLQMessage) error
	Release(ctx context.Context, msgs []sources.DLQMessage) error
	Name() string
	Close() error
}

var (
	_ deadLetterReader = (*awssqs.DeadLetterReader)(nil)
	_ deadLetterReader = (*gcppubsub.DeadLetterReader)(nil)
)

// driverReader is a Reader over a driver's dead-letter reader.
type driverReader struct{ dl deadLetterReader }

func (r driverReader) Name() string { return r.dl.Name() }
func (r driverReader) Close() error { return r.dl.Close() }

func (r driverReader) Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	got, err := r.dl.Receive(ctx, max, wait)
	if err != nil || len(got) == 0 {
		return nil, err
	}
	msgs := make([]*Message, len(got))
	for i, m := range got {
		msgs[i] = &Message{
			ID: m.ID, Body: m.Body, Attributes: m.Attributes, OrderingKey: m.OrderingKey,
			PublishTime: m.PublishTime, ReceiveCount: m.ReceiveCount, handle: m.Handle,
		}
	}
	return msgs, nil
}

func (r driverReader) Ack(ctx context.Context, msgs []*Message) error {
	return r.dl.Ack(ctx, handles(msgs))
}

func (r driverReader) Release(ctx context.Context, msgs []*Message) error {
	return r.dl.Release(ctx, handles(msgs))
}

// handles is what a driver needs to ack or release msgs: the handle, and
// the id to name a message it could not.
func handles(msgs []*Message) []sources.DLQMessage {
	out := make([]sources.DLQMessage, len(msgs))
	for i, m := range msgs {
		out[i] = sources.DLQMessage{ID: m.ID, Handle: m.handle}
	}
	return out
}

// SQSOptions configure an SQS reader.
type SQSOptions struct {
	// QueueURL is the dead-letter queue (required).
	QueueURL string
	// Lease is the visibility timeout asked for on receive (whole
	// seconds); default DefaultLease.
	Lease time.Duration
}

// NewSQSReader returns a reader of the dead-letter queue o.QueueURL with
// client (see awssqs.NewClient), through awssqs.DeadLetterReader.
func NewSQSReader(client *awssqs.Client, o SQSOptions) (Reader, error) {
	if client == nil {
		return nil, badConfig("sqs: nil client")
	}
	if o.QueueURL == "" {
		return nil, badConfig("sqs: the dead-letter queue URL is required (--sqs-queue-url)")
	}
	lease := o.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	dl, err := awssqs.NewDeadLetterReader(client, o.QueueURL, lease)
	if err != nil {
		return nil, err
	}
	return driverReader{dl}, nil
}

// PubSubOptions configure a Pub/Sub reader.
type PubSubOptions struct {
	// Project is the client's project (required).
	Project string
	// Subscription is a subscription to the dead-letter topic: an ID in
	// Project or a full "projects/P/subscriptions/S" name (required).
	Subscription string
	// Lease is how long a message read stays leased (the ack deadline
	// set on it, 10s to 600s); default DefaultLease, cut to 600s.
	Lease time.Duration
	// ClientOptions are passed to pubsub.NewClient; the client honours
	// PUBSUB_EMULATOR_HOST.
	ClientOptions []option.ClientOption
}

// OpenPubSub returns a reader of o.Subscription, through
// gcppubsub.DeadLetterReader. A missing subscription surfaces from the
// first Receive, classified Permanent.
func OpenPubSub(ctx context.Context, o PubSubOptions) (Reader, error) {
	if o.Project == "" || o.Subscription == "" {
		return nil, badConfig("pubsub: a project and the dead-letter subscription are required (--pubsub-project, --subscription)")
	}
	lease := o.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	dl, err := gcppubsub.NewDeadLetterReader(ctx, o.Project, o.Subscription, lease, o.ClientOptions...)
	if err != nil {
		return nil, err
	}
	return driverReader{dl}, nil
}

// SubscriptionTopic returns the full name of the topic subscription (an ID
// in project or a full name) is attached to: where a replay publishes when
// the config names only the worker's subscription.
func SubscriptionTopic(ctx context.Context, project, subscription string, opts ...option.ClientOption) (string, error) {
	return gcppubsub.SubscriptionTopic(ctx, project, subscription, opts...)
}

// TopicSubscription returns the one subscription of topic (an ID in
// project or a full name): the dead-letter subscription, when the config
// names only the dead-letter topic. It fails when there is none or more
// than one, naming them.
func TopicSubscription(ctx context.Context, project, topic string, opts ...option.ClientOption) (string, error) {
	subs, err := gcppubsub.TopicSubscriptions(ctx, project, topic, opts...)
	if err != nil {
		return "", err
	}
	name := fullName(project, "topics", topic)
	switch len(subs) {
	case 1:
		return subs[0], nil
	case 0:
		return "", badConfig("pubsub: dead-letter topic %s has no subscription: create one (its messages are only kept for a subscription) and pass it with --subscription", name)
	default:
		return "", badConfig("pubsub: dead-letter topic %s has %d subscriptions (%v): pick one with --subscription", name, len(subs), subs)
	}
}
