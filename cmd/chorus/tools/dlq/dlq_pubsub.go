package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sources/gcppubsub"
)

// Pub/Sub limits on one pull, ack or deadline change.
const (
	pubsubMaxPull  = 1000
	pubsubMaxAcks  = 1000
	pubsubMaxLease = 600 * time.Second
)

// pubsubPollEvery is how often an empty pull is retried until the wait
// ends.
const pubsubPollEvery = 250 * time.Millisecond

// PubSubOptions configure a PubSubReader.
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

// PubSubReader reads a dead-letter subscription with unary pulls (the v2
// client's SubscriptionAdminClient): each pull's messages get their ack
// deadline set to the lease at once; Ack acknowledges, Release sets the
// deadline to 0 (a nack).
type PubSubReader struct {
	client  *pubsub.Client
	project string
	sub     string // full name
	lease   int32  // seconds
}

var _ Reader = (*PubSubReader)(nil)

// OpenPubSub returns a reader of o.Subscription. A missing subscription
// surfaces from the first Receive, classified Permanent.
func OpenPubSub(ctx context.Context, o PubSubOptions) (*PubSubReader, error) {
	if o.Project == "" || o.Subscription == "" {
		return nil, badConfig("pubsub: a project and the dead-letter subscription are required (--pubsub-project, --subscription)")
	}
	client, err := pubsub.NewClient(ctx, o.Project, o.ClientOptions...)
	if err != nil {
		return nil, gcppubsub.Classify("dlq: new client", err)
	}
	lease := o.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	lease = min(max(lease, 10*time.Second), pubsubMaxLease)
	return &PubSubReader{
		client: client, project: o.Project,
		sub:   fullName(o.Project, "subscriptions", o.Subscription),
		lease: int32(lease / time.Second),
	}, nil
}

// Name implements Reader.
func (r *PubSubReader) Name() string { return r.sub }

// Receive implements Reader. Pulls return at once (ReturnImmediately), and
// an empty one is repeated every 250ms until wait has passed, so the idle
// timeout is ours rather than the server's (a cancelled waiting pull could
// leave a message leased to nobody).
func (r *PubSubReader) Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	deadline := time.Now().Add(wait)
	for {
		resp, err := r.client.SubscriptionAdminClient.Pull(ctx, &pb.PullRequest{
			Subscription: r.sub,
			MaxMessages:  int32(min(max, pubsubMaxPull)),
			//lint:ignore SA1019 deprecated in the API, but the service,
			// pstest and the emulator honour it, and without it an empty
			// pull waits with no bound we control.
			ReturnImmediately: true,
		})
		if err != nil {
			return nil, gcppubsub.Classify("dlq: pull "+r.sub, err)
		}
		if rms := resp.GetReceivedMessages(); len(rms) > 0 {
			msgs := make([]*Message, len(rms))
			ackIDs := make([]string, len(rms))
			for i, rm := range rms {
				ackIDs[i] = rm.GetAckId()
				msgs[i] = pubsubMessage(rm)
			}
			if err := r.modAck(ctx, ackIDs, r.lease); err != nil {
				// They were leased for the subscription's ack deadline
				// only; give them back rather than lose track.
				_ = r.modAck(context.WithoutCancel(ctx), ackIDs, 0)
				return nil, err
			}
			return msgs, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		t := time.NewTimer(min(left, pubsubPollEvery))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("dlq: pull %s: %w", r.sub, ctx.Err())
		case <-t.C:
		}
	}
}

func pubsubMessage(rm *pb.ReceivedMessage) *Message {
	m := rm.GetMessage()
	out := &Message{
		ID:           m.GetMessageId(),
		Body:         m.GetData(),
		Attributes:   m.GetAttributes(),
		OrderingKey:  m.GetOrderingKey(),
		ReceiveCount: int(rm.GetDeliveryAttempt()),
		handle:       rm.GetAckId(),
	}
	if t := m.GetPublishTime(); t != nil {
		out.PublishTime = t.AsTime()
	}
	return out
}

// Ack implements Reader.
func (r *PubSubReader) Ack(ctx context.Context, msgs []*Message) error {
	var errs []error
	for chunk := range slices.Chunk(ackIDs(msgs), pubsubMaxAcks) {
		err := r.client.SubscriptionAdminClient.Acknowledge(ctx, &pb.AcknowledgeRequest{Subscription: r.sub, AckIds: chunk})
		if err != nil {
			errs = append(errs, gcppubsub.Classify(fmt.Sprintf("dlq: ack %d on %s", len(chunk), r.sub), err))
		}
	}
	return errors.Join(errs...)
}

// Release implements Reader: a deadline of 0 makes the messages available
// again at once.
func (r *PubSubReader) Release(ctx context.Context, msgs []*Message) error {
	return r.modAck(ctx, ackIDs(msgs), 0)
}

func (r *PubSubReader) modAck(ctx context.Context, ids []string, secs int32) error {
	var errs []error
	for chunk := range slices.Chunk(ids, pubsubMaxAcks) {
		err := r.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pb.ModifyAckDeadlineRequest{
			Subscription: r.sub, AckIds: chunk, AckDeadlineSeconds: secs,
		})
		if err != nil {
			errs = append(errs, gcppubsub.Classify(fmt.Sprintf("dlq: set ack deadline %ds on %s", secs, r.sub), err))
		}
	}
	return errors.Join(errs...)
}

func ackIDs(msgs []*Message) []string {
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if id, ok := m.handle.(string); ok && id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// Close implements Reader.
func (r *PubSubReader) Close() error {
	if err := r.client.Close(); err != nil {
		return gcppubsub.Classify("dlq: close", err)
	}
	return nil
}

// SubscriptionTopic returns the full name of the topic subscription (an ID
// in project or a full name) is attached to: where a replay publishes when
// the config names only the worker's subscription.
func SubscriptionTopic(ctx context.Context, project, subscription string, opts ...option.ClientOption) (string, error) {
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return "", gcppubsub.Classify("dlq: new client", err)
	}
	defer client.Close()
	name := fullName(project, "subscriptions", subscription)
	sub, err := client.SubscriptionAdminClient.GetSubscription(ctx, &pb.GetSubscriptionRequest{Subscription: name})
	if err != nil {
		return "", gcppubsub.Classify("dlq: get subscription "+name, err)
	}
	return sub.GetTopic(), nil
}

// TopicSubscription returns the one subscription of topic (an ID in
// project or a full name): the dead-letter subscription, when the config
// names only the dead-letter topic. It fails when there is none or more
// than one, naming them.
func TopicSubscription(ctx context.Context, project, topic string, opts ...option.ClientOption) (string, error) {
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return "", gcppubsub.Classify("dlq: new client", err)
	}
	defer client.Close()
	name := fullName(project, "topics", topic)
	it := client.TopicAdminClient.ListTopicSubscriptions(ctx, &pb.ListTopicSubscriptionsRequest{Topic: name})
	var subs []string
	for {
		s, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return "", gcppubsub.Classify("dlq: list subscriptions of "+name, err)
		}
		subs = append(subs, s)
	}
	switch len(subs) {
	case 1:
		return subs[0], nil
	case 0:
		return "", badConfig("pubsub: dead-letter topic %s has no subscription: create one (its messages are only kept for a subscription) and pass it with --subscription", name)
	default:
		return "", badConfig("pubsub: dead-letter topic %s has %d subscriptions (%v): pick one with --subscription", name, len(subs), subs)
	}
}
