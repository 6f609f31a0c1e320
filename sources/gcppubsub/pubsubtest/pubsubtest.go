// Package pubsubtest gives tests a Pub/Sub server: the client library's
// in-process fake (pstest, always available) or the Google Cloud SDK's
// emulator (a Java server gcloud starts; closer to the real service). Both
// come as a Server with the same helpers: client options for code under
// test, an address for child processes (PUBSUB_EMULATOR_HOST), and
// admin calls to create topics and subscriptions, publish, pull and count
// what a subscription still holds.
//
// Helpers take IDs in the Server's project or full resource names, and
// return errors rather than failing the test, so harnesses and child
// process tests can use them alike.
package pubsubtest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
)

// DefaultProject is the project a Server's helpers work in. Neither pstest
// nor the emulator checks projects, so any name works.
const DefaultProject = "chorus-test"

// Kinds of Server.
const (
	KindFake     = "pstest"
	KindEmulator = "emulator"
)

// Pub/Sub's limits on one Publish request.
const (
	maxPublishCount = 1000
	maxPublishBytes = 9 << 20 // under the 10 MB limit, leaving room for framing
)

// Server is a running Pub/Sub server and an admin client for it. It stops
// when the test that created it ends.
type Server struct {
	kind    string
	host    string
	project string
	client  *pubsub.Client
}

// NewFake starts the client library's in-process fake (pstest). It always
// works, but differs from the real service: delivery order is random
// unless the subscription orders by key, it pushes about one message per
// stream every 10 ms, and it ignores server-side flow control. Reactor
// options inject faults, e.g. pstest.WithErrorInjection("Acknowledge",
// codes.Unavailable, "down").
func NewFake(t testing.TB, opts ...pstest.ServerReactorOption) *Server {
	t.Helper()
	srv := pstest.NewServer(opts...)
	t.Cleanup(func() { _ = srv.Close() })
	return newServer(t, KindFake, srv.Addr)
}

func newServer(t testing.TB, kind, host string) *Server {
	t.Helper()
	s := &Server{kind: kind, host: host, project: DefaultProject}
	c, err := pubsub.NewClient(context.Background(), s.project, s.ClientOptions()...)
	if err != nil {
		t.Fatalf("pubsubtest: admin client for %s at %s: %v", kind, host, err)
	}
	s.client = c
	t.Cleanup(func() { _ = c.Close() })
	return s
}

// Kind is KindFake or KindEmulator, for tests that must allow for the
// differences.
func (s *Server) Kind() string { return s.kind }

// Host is the server's host:port, the value of PUBSUB_EMULATOR_HOST for a
// child process.
func (s *Server) Host() string { return s.host }

// Env is the environment a child process needs to reach the server with
// the standard client: PUBSUB_EMULATOR_HOST and PUBSUB_PROJECT_ID.
func (s *Server) Env() []string {
	return []string{"PUBSUB_EMULATOR_HOST=" + s.host, "PUBSUB_PROJECT_ID=" + s.project}
}

// Project is the project the helpers use for IDs.
func (s *Server) Project() string { return s.project }

// ClientOptions connect a pubsub client to the server: its endpoint, no
// TLS, no credentials.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.host),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithTelemetryDisabled(),
	}
}

// Client is the Server's own client, for admin calls the helpers do not
// cover. It is closed when the test ends.
func (s *Server) Client() *pubsub.Client { return s.client }

// TopicName returns the full name of a topic ID in the Server's project;
// a full name is returned as is.
func (s *Server) TopicName(id string) string { return s.name("topics", id) }

// SubscriptionName is TopicName for subscriptions.
func (s *Server) SubscriptionName(id string) string { return s.name("subscriptions", id) }

func (s *Server) name(kind, id string) string {
	if strings.HasPrefix(id, "projects/") {
		return id
	}
	return "projects/" + s.project + "/" + kind + "/" + id
}

// CreateTopic creates a topic. IDs are 3 to 255 characters and start
// with a letter.
func (s *Server) CreateTopic(ctx context.Context, id string) error {
	_, err := s.client.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: s.TopicName(id)})
	if err != nil {
		return fmt.Errorf("pubsubtest: create topic %s: %w", id, err)
	}
	return nil
}

// SubOpts configures a subscription. The zero value is a plain
// subscription with a 10 s ack deadline.
type SubOpts struct {
	// AckDeadline is the subscription's ack deadline (10s–600s); zero means
	// 10s.
	AckDeadline time.Duration
	// Ordering enables message ordering by ordering key.
	Ordering bool
	// ExactlyOnce enables exactly-once delivery.
	ExactlyOnce bool
	// DeadLetterTopic, if set, gives the subscription a dead-letter policy
	// that forwards a message there after MaxDeliveryAttempts deliveries.
	// It also makes Pub/Sub report delivery attempts.
	DeadLetterTopic string
	// MaxDeliveryAttempts is the dead-letter policy's limit (5–100); zero
	// means 5.
	MaxDeliveryAttempts int
	// MinBackoff, if set, gives the subscription a retry policy: Pub/Sub
	// waits at least this long (0–600s) before redelivering a nacked
	// message, and up to MaxBackoff (default 600s) as failures repeat.
	// The emulator honours it; pstest ignores it.
	MinBackoff, MaxBackoff time.Duration
}

// CreateSubscription creates a pull subscription to topic.
func (s *Server) CreateSubscription(ctx context.Context, id, topic string, o SubOpts) error {
	ack := o.AckDeadline
	if ack == 0 {
		ack = 10 * time.Second
	}
	sub := &pb.Subscription{
		Name:                      s.SubscriptionName(id),
		Topic:                     s.TopicName(topic),
		AckDeadlineSeconds:        int32(ack / time.Second),
		EnableMessageOrdering:     o.Ordering,
		EnableExactlyOnceDelivery: o.ExactlyOnce,
	}
	if o.DeadLetterTopic != "" {
		sub.DeadLetterPolicy = &pb.DeadLetterPolicy{
			DeadLetterTopic:     s.TopicName(o.DeadLetterTopic),
			MaxDeliveryAttempts: int32(cmp.Or(o.MaxDeliveryAttempts, 5)),
		}
	}
	if o.MinBackoff > 0 {
		sub.RetryPolicy = &pb.RetryPolicy{
			MinimumBackoff: durationpb.New(o.MinBackoff),
			MaximumBackoff: durationpb.New(cmp.Or(o.MaxBackoff, 600*time.Second)),
		}
	}
	if _, err := s.client.SubscriptionAdminClient.CreateSubscription(ctx, sub); err != nil {
		return fmt.Errorf("pubsubtest: create subscription %s: %w", id, err)
	}
	return nil
}

// Message is a message to publish.
type Message struct {
	Data        []byte
	Attributes  map[string]string
	OrderingKey string
}

// Publish publishes msgs to topic in order, in as few requests as Pub/Sub's
// limits allow, and returns their message IDs.
func (s *Server) Publish(ctx context.Context, topic string, msgs ...Message) ([]string, error) {
	name := s.TopicName(topic)
	ids := make([]string, 0, len(msgs))
	for len(msgs) > 0 {
		n, size := 0, 0
		for n < len(msgs) && n < maxPublishCount {
			m := msgs[n]
			sz := len(m.Data) + len(m.OrderingKey)
			for k, v := range m.Attributes {
				sz += len(k) + len(v)
			}
			if n > 0 && size+sz > maxPublishBytes {
				break
			}
			size += sz
			n++
		}
		req := &pb.PublishRequest{Topic: name, Messages: make([]*pb.PubsubMessage, n)}
		for i, m := range msgs[:n] {
			req.Messages[i] = &pb.PubsubMessage{Data: m.Data, Attributes: m.Attributes, OrderingKey: m.OrderingKey}
		}
		resp, err := s.client.TopicAdminClient.Publish(ctx, req)
		if err != nil {
			return ids, fmt.Errorf("pubsubtest: publish to %s: %w", topic, err)
		}
		ids = append(ids, resp.MessageIds...)
		msgs = msgs[n:]
	}
	return ids, nil
}

// Received is a message read from a subscription.
type Received struct {
	ID          string
	Data        []byte
	Attributes  map[string]string
	OrderingKey string
	PublishTime time.Time
	// DeliveryAttempt is 0 unless the subscription has a dead-letter
	// policy.
	DeliveryAttempt int
}

// Pull returns up to max messages available on sub right now and acks
// them. It does not wait for messages to arrive; an empty result is fine.
func (s *Server) Pull(ctx context.Context, sub string, max int) ([]Received, error) {
	rms, err := s.pull(ctx, sub, max)
	if err != nil || len(rms) == 0 {
		return nil, err
	}
	ackIDs := make([]string, len(rms))
	out := make([]Received, len(rms))
	for i, rm := range rms {
		ackIDs[i] = rm.AckId
		m := rm.Message
		out[i] = Received{
			ID:              m.MessageId,
			Data:            m.Data,
			Attributes:      m.Attributes,
			OrderingKey:     m.OrderingKey,
			PublishTime:     m.PublishTime.AsTime(),
			DeliveryAttempt: int(rm.DeliveryAttempt),
		}
	}
	err = s.client.SubscriptionAdminClient.Acknowledge(ctx, &pb.AcknowledgeRequest{Subscription: s.SubscriptionName(sub), AckIds: ackIDs})
	if err != nil {
		return nil, fmt.Errorf("pubsubtest: ack on %s: %w", sub, err)
	}
	return out, nil
}

// PullAll pulls and acks until sub has nothing available, and returns what
// it got oldest first (by publish time, then message ID).
func (s *Server) PullAll(ctx context.Context, sub string) ([]Received, error) {
	var all []Received
	for {
		got, err := s.Pull(ctx, sub, 1000)
		if err != nil {
			return all, err
		}
		if len(got) == 0 {
			SortOldestFirst(all)
			return all, nil
		}
		all = append(all, got...)
	}
}

// SortOldestFirst sorts messages by publish time, then by message ID
// (shorter first, so that pstest's "m9" comes before "m10").
func SortOldestFirst(msgs []Received) {
	slices.SortStableFunc(msgs, func(a, b Received) int {
		return cmp.Or(
			a.PublishTime.Compare(b.PublishTime),
			cmp.Compare(len(a.ID), len(b.ID)),
			strings.Compare(a.ID, b.ID),
		)
	})
}

// Backlog counts the messages sub would deliver now: published, not acked,
// and not leased to a subscriber. It pulls them without acking and then
// nacks them, so each counted message's delivery attempt goes up by one.
// A message leased to a live subscriber (or one that died without nacking,
// until its ack deadline passes) is not counted; call Backlog after the
// subscribers closed, to check that a subscription ended empty.
func (s *Server) Backlog(ctx context.Context, sub string) (int, error) {
	seen := map[string]bool{}
	var ackIDs []string
	var err error
	for {
		var rms []*pb.ReceivedMessage
		rms, err = s.pull(ctx, sub, 1000)
		if err != nil || len(rms) == 0 {
			break
		}
		for _, rm := range rms {
			seen[rm.Message.MessageId] = true
			ackIDs = append(ackIDs, rm.AckId)
		}
	}
	// Give them back whatever happened, so a failed count loses nothing.
	for chunk := range slices.Chunk(ackIDs, 1000) {
		nerr := s.client.SubscriptionAdminClient.ModifyAckDeadline(context.WithoutCancel(ctx), &pb.ModifyAckDeadlineRequest{
			Subscription: s.SubscriptionName(sub), AckIds: chunk, AckDeadlineSeconds: 0,
		})
		if nerr != nil && err == nil {
			err = fmt.Errorf("pubsubtest: nack on %s: %w", sub, nerr)
		}
	}
	return len(seen), err
}

func (s *Server) pull(ctx context.Context, sub string, max int) ([]*pb.ReceivedMessage, error) {
	resp, err := s.client.SubscriptionAdminClient.Pull(ctx, &pb.PullRequest{
		Subscription: s.SubscriptionName(sub),
		MaxMessages:  int32(max),
		//lint:ignore SA1019 deprecated in the API, but pstest and the
		// emulator honour it, and without it an empty pull waits.
		ReturnImmediately: true,
	})
	if err != nil {
		return nil, fmt.Errorf("pubsubtest: pull from %s: %w", sub, err)
	}
	return resp.ReceivedMessages, nil
}
