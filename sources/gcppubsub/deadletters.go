package gcppubsub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// Pub/Sub limits on one pull, ack or deadline change, and the shortest
// and longest ack deadline.
const (
	dlqMaxPull  = 1000
	dlqMaxAcks  = 1000
	dlqMinLease = 10 * time.Second
	dlqMaxLease = 600 * time.Second
)

// dlqPollEvery is how often an empty pull is retried until the wait ends.
const dlqPollEvery = 250 * time.Millisecond

// DeadLetterReader reads a dead-letter subscription without consuming it,
// with unary pulls (the v2 client's SubscriptionAdminClient): each pull's
// messages get their ack deadline set to the lease at once; Ack
// acknowledges, Release sets the deadline to 0 (a nack).
type DeadLetterReader struct {
	client *pubsub.Client
	sub    string // full name
	lease  int32  // seconds
}

// NewDeadLetterReader returns a reader of subscription (an ID in project
// or a full "projects/P/subscriptions/S" name) that leases what it
// receives for lease, kept within Pub/Sub's 10s to 600s. A missing
// subscription surfaces from the first Receive, classified Permanent.
// The client honours PUBSUB_EMULATOR_HOST.
func NewDeadLetterReader(ctx context.Context, project, subscription string, lease time.Duration, opts ...option.ClientOption) (*DeadLetterReader, error) {
	if project == "" || subscription == "" {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "gcppubsub: dead-letter reader: a project and a subscription are required")
	}
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, Classify("dlq: new client", err)
	}
	lease = min(max(lease, dlqMinLease), dlqMaxLease)
	return &DeadLetterReader{
		client: client,
		sub:    FullName(project, "subscriptions", subscription),
		lease:  int32(lease / time.Second),
	}, nil
}

// FullName returns "projects/P/KIND/ID" for an ID, a full name as is.
func FullName(project, kind, id string) string {
	if strings.HasPrefix(id, "projects/") {
		return id
	}
	return "projects/" + project + "/" + kind + "/" + id
}

// Name is the subscription's full name.
func (r *DeadLetterReader) Name() string { return r.sub }

// Receive returns up to limit messages. Pulls return at once
// (ReturnImmediately), and an empty one is repeated every 250ms until wait
// has passed, so the idle timeout is ours rather than the server's (a
// cancelled waiting pull could leave a message leased to nobody). An empty
// batch with a nil error means nothing came within wait.
func (r *DeadLetterReader) Receive(ctx context.Context, limit int, wait time.Duration) ([]sources.DLQMessage, error) {
	deadline := time.Now().Add(wait)
	for {
		resp, err := r.client.SubscriptionAdminClient.Pull(ctx, &pb.PullRequest{
			Subscription: r.sub,
			MaxMessages:  int32(min(limit, dlqMaxPull)),
			//lint:ignore SA1019 deprecated in the API, but the service,
			// pstest and the emulator honour it, and without it an empty
			// pull waits with no bound we control.
			ReturnImmediately: true,
		})
		if err != nil {
			return nil, Classify("dlq: pull "+r.sub, err)
		}
		if rms := resp.GetReceivedMessages(); len(rms) > 0 {
			msgs := make([]sources.DLQMessage, len(rms))
			ackIDs := make([]string, len(rms))
			for i, rm := range rms {
				ackIDs[i] = rm.GetAckId()
				msgs[i] = dlqMessage(rm)
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
		t := time.NewTimer(min(left, dlqPollEvery))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("dlq: pull %s: %w", r.sub, ctx.Err())
		case <-t.C:
		}
	}
}

func dlqMessage(rm *pb.ReceivedMessage) sources.DLQMessage {
	m := rm.GetMessage()
	out := sources.DLQMessage{
		ID:           m.GetMessageId(),
		Body:         m.GetData(),
		Attributes:   m.GetAttributes(),
		OrderingKey:  m.GetOrderingKey(),
		ReceiveCount: int(rm.GetDeliveryAttempt()),
		Handle:       rm.GetAckId(),
	}
	if t := m.GetPublishTime(); t != nil {
		out.PublishTime = t.AsTime()
	}
	return out
}

// Ack removes messages from the subscription for good.
func (r *DeadLetterReader) Ack(ctx context.Context, msgs []sources.DLQMessage) error {
	var errs []error
	for chunk := range slices.Chunk(dlqAckIDs(msgs), dlqMaxAcks) {
		err := r.client.SubscriptionAdminClient.Acknowledge(ctx, &pb.AcknowledgeRequest{Subscription: r.sub, AckIds: chunk})
		if err != nil {
			errs = append(errs, Classify(fmt.Sprintf("dlq: ack %d on %s", len(chunk), r.sub), err))
		}
	}
	return errors.Join(errs...)
}

// Release makes messages available again at once: an ack deadline of 0.
func (r *DeadLetterReader) Release(ctx context.Context, msgs []sources.DLQMessage) error {
	return r.modAck(ctx, dlqAckIDs(msgs), 0)
}

func (r *DeadLetterReader) modAck(ctx context.Context, ids []string, secs int32) error {
	var errs []error
	for chunk := range slices.Chunk(ids, dlqMaxAcks) {
		err := r.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pb.ModifyAckDeadlineRequest{
			Subscription: r.sub, AckIds: chunk, AckDeadlineSeconds: secs,
		})
		if err != nil {
			errs = append(errs, Classify(fmt.Sprintf("dlq: set ack deadline %ds on %s", secs, r.sub), err))
		}
	}
	return errors.Join(errs...)
}

func dlqAckIDs(msgs []sources.DLQMessage) []string {
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if m.Handle != "" {
			ids = append(ids, m.Handle)
		}
	}
	return ids
}

// Close releases the reader's client. It does not release messages.
func (r *DeadLetterReader) Close() error {
	if err := r.client.Close(); err != nil {
		return Classify("dlq: close", err)
	}
	return nil
}

// SubscriptionTopic returns the full name of the topic subscription (an ID
// in project or a full name) is attached to.
func SubscriptionTopic(ctx context.Context, project, subscription string, opts ...option.ClientOption) (string, error) {
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return "", Classify("dlq: new client", err)
	}
	defer client.Close()
	name := FullName(project, "subscriptions", subscription)
	sub, err := client.SubscriptionAdminClient.GetSubscription(ctx, &pb.GetSubscriptionRequest{Subscription: name})
	if err != nil {
		return "", Classify("dlq: get subscription "+name, err)
	}
	return sub.GetTopic(), nil
}

// TopicSubscriptions returns the full names of the subscriptions of topic
// (an ID in project or a full name).
func TopicSubscriptions(ctx context.Context, project, topic string, opts ...option.ClientOption) ([]string, error) {
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, Classify("dlq: new client", err)
	}
	defer client.Close()
	name := FullName(project, "topics", topic)
	it := client.TopicAdminClient.ListTopicSubscriptions(ctx, &pb.ListTopicSubscriptionsRequest{Topic: name})
	var subs []string
	for {
		s, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return subs, nil
		}
		if err != nil {
			return nil, Classify("dlq: list subscriptions of "+name, err)
		}
		subs = append(subs, s)
	}
}
