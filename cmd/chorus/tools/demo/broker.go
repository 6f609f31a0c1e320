package demo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/gcppubsub"
)

// The demo's in-process Pub/Sub: pstest serves the Pub/Sub gRPC API on a
// loopback port and the production source (sources/gcppubsub, the real
// pubsub/v2 client) reads it, so the demo runs the code path a deployment
// runs.
const (
	demoProject      = "chorus-demo"
	demoTopic        = "feedback"
	demoSubscription = "feedback-worker"
	demoDeadLetters  = "feedback-dead-letters"
)

type broker struct {
	srv       *pstest.Server
	client    *pubsub.Client
	opts      []option.ClientOption
	published map[string]bool // message ids of the demo input
}

func startBroker(ctx context.Context) (*broker, error) {
	srv := pstest.NewServer()
	b := &broker{srv: srv, published: map[string]bool{}, opts: []option.ClientOption{
		option.WithEndpoint(srv.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithTelemetryDisabled(),
	}}
	client, err := pubsub.NewClient(ctx, demoProject, b.opts...)
	if err != nil {
		srv.Close()
		return nil, err
	}
	b.client = client
	for _, t := range []string{demoTopic, demoDeadLetters} {
		if _, err := client.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: b.topic(t)}); err != nil {
			b.close()
			return nil, fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{
		Name: fmt.Sprintf("projects/%s/subscriptions/%s", demoProject, demoSubscription), Topic: b.topic(demoTopic), AckDeadlineSeconds: 10,
	}); err != nil {
		b.close()
		return nil, fmt.Errorf("create subscription: %w", err)
	}
	return b, nil
}

func (b *broker) topic(id string) string {
	return fmt.Sprintf("projects/%s/topics/%s", demoProject, id)
}

func (b *broker) close() {
	_ = b.client.Close()
	_ = b.srv.Close()
}

// source opens the production Pub/Sub source on the demo subscription.
func (b *broker) source(ctx context.Context, fc sources.FlowControl) (sources.Source, error) {
	return gcppubsub.Open(ctx, gcppubsub.Options{
		Project: demoProject, Subscription: demoSubscription, DeadLetterTopic: demoDeadLetters,
		FlowControl: fc, MaxExtensionPeriod: 10 * time.Second, ClientOptions: b.opts,
		// pstest pushes about one message per stream every 10 ms; the real
		// service streams far faster. Enough streams keep the fake from
		// being the demo's bottleneck.
		Streams: 32,
	})
}

// publish puts every line of the demo feedback on the topic.
func (b *broker) publish(data fs.FS) (int, error) {
	for _, path := range []string{FeedbackPath, LLMFeedbackPath} {
		if err := b.publishFile(data, path); err != nil {
			return 0, err
		}
	}
	return len(b.published), nil
}

func (b *broker) publishFile(data fs.FS, path string) error {
	f, err := data.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		id := b.srv.Publish(b.topic(demoTopic), bytes.Clone(line), map[string]string{"run_id": RunID})
		b.published[id] = true
	}
	return sc.Err()
}

// progress counts demo messages acked.
func (b *broker) progress() int {
	n := 0
	for _, m := range b.srv.Messages() {
		if b.published[m.ID] && m.Acks > 0 {
			n++
		}
	}
	return n
}

// deadLetters returns what the worker published to the dead-letter topic.
func (b *broker) deadLetters() []deadLettered {
	var out []deadLettered
	for _, m := range b.srv.Messages() {
		if m.Topic == b.topic(demoDeadLetters) {
			out = append(out, deadLettered{Body: m.Data, Attributes: m.Attributes})
		}
	}
	return out
}

// deadLettered is one dead-letter message.
type deadLettered struct {
	Body       []byte
	Attributes map[string]string
}
