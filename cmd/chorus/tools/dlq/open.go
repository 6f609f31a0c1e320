package dlq

import (
	"context"
	"strings"
	"time"

	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/gcppubsub"
	"github.com/chorusml/chorus/worker/config"
)

// Broker kinds of a Target.
const (
	KindPubSub = "pubsub"
	KindSQS    = "sqs"
)

// Target says where the dead letters are and where a replay sends them.
// Flags fill it; ApplyConfig fills what they left blank from a worker
// config.
type Target struct {
	// Pub/Sub: the project, the dead-letter subscription and the topic to
	// replay to. DeadLetterTopic and SourceSubscription, from a config,
	// let Open find the other two.
	Project            string
	Subscription       string
	ToTopic            string
	DeadLetterTopic    string
	SourceSubscription string
	PubSubOptions      []option.ClientOption

	// SQS: the dead-letter queue, the queue to replay to, region and
	// endpoint (see awssqs.NewClient). SQSClient, if set, is used as is.
	QueueURL   string
	ToQueueURL string
	Region     string
	Endpoint   string
	SQSClient  *awssqs.Client

	// Lease is how long a read message stays leased; default
	// DefaultLease.
	Lease time.Duration
}

// Kind is KindSQS when an SQS queue is named, KindPubSub when a Pub/Sub
// project or subscription is, "" otherwise.
func (t Target) Kind() string {
	switch {
	case t.QueueURL != "" || t.ToQueueURL != "":
		return KindSQS
	case t.Project != "" || t.Subscription != "" || t.DeadLetterTopic != "":
		return KindPubSub
	}
	return ""
}

// ApplyConfig fills the fields t leaves blank from a worker config's
// source: for SQS the dead-letter queue and, as replay destination, the
// source queue; for Pub/Sub the project, the dead-letter topic (to find
// its subscription) and the source subscription (to find its topic).
func (t *Target) ApplyConfig(cfg *config.Config) {
	switch cfg.Source.Type {
	case "sqs":
		sq := cfg.Source.SQS
		setBlank(&t.QueueURL, sq.DeadLetterQueueURL)
		setBlank(&t.ToQueueURL, sq.QueueURL)
		setBlank(&t.Region, sq.Region)
		setBlank(&t.Endpoint, sq.Endpoint)
	case "pubsub":
		ps := cfg.Source.PubSub
		setBlank(&t.Project, ps.Project)
		setBlank(&t.DeadLetterTopic, ps.DeadLetterTopic)
		setBlank(&t.SourceSubscription, ps.Subscription)
		if ps.Endpoint != "" && len(t.PubSubOptions) == 0 {
			t.PubSubOptions = []option.ClientOption{option.WithEndpoint(ps.Endpoint)}
		}
	}
}

func setBlank(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// OpenReader opens the reader of t's dead letters.
func OpenReader(ctx context.Context, t Target) (Reader, error) {
	switch t.Kind() {
	case KindPubSub:
		sub := t.Subscription
		if sub == "" && t.DeadLetterTopic != "" {
			s, err := TopicSubscription(ctx, t.Project, t.DeadLetterTopic, t.PubSubOptions...)
			if err != nil {
				return nil, err
			}
			sub = s
		}
		return OpenPubSub(ctx, PubSubOptions{Project: t.Project, Subscription: sub, Lease: t.Lease, ClientOptions: t.PubSubOptions})
	case KindSQS:
		if t.QueueURL == "" {
			return nil, badConfig("sqs: the dead-letter queue URL is required (--sqs-queue-url)")
		}
		c, err := t.sqsClient(ctx)
		if err != nil {
			return nil, err
		}
		return NewSQSReader(c, SQSOptions{QueueURL: t.QueueURL, Lease: t.Lease})
	}
	return nil, badConfig("name the dead letters: --pubsub-project and --subscription, --sqs-queue-url, or --config FILE")
}

func (t Target) sqsClient(ctx context.Context) (*awssqs.Client, error) {
	if t.SQSClient != nil {
		return t.SQSClient, nil
	}
	return awssqs.NewClient(ctx, t.Region, t.Endpoint)
}

// Destination is where a replay publishes: the publisher, what it
// publishes to (for the summary) and the options it needs.
type Destination struct {
	Publisher sources.Publisher
	Name      string
	// MaxAttributes and FIFO go to ReplayOptions.
	MaxAttributes int
	FIFO          bool
}

// OpenDestination opens the publisher a replay of t sends to: ToTopic (or
// the topic of SourceSubscription) for Pub/Sub, ToQueueURL for SQS.
func OpenDestination(ctx context.Context, t Target) (Destination, error) {
	switch t.Kind() {
	case KindPubSub:
		topic := t.ToTopic
		if topic == "" && t.SourceSubscription != "" {
			tp, err := SubscriptionTopic(ctx, t.Project, t.SourceSubscription, t.PubSubOptions...)
			if err != nil {
				return Destination{}, err
			}
			topic = tp
		}
		if topic == "" {
			return Destination{}, badConfig("pubsub: replay needs --to-topic (or --config with the worker's subscription)")
		}
		p, err := gcppubsub.NewPublisher(ctx, t.Project, topic, gcppubsub.PublisherOptions{Ordered: true, ClientOptions: t.PubSubOptions})
		if err != nil {
			return Destination{}, err
		}
		return Destination{Publisher: p, Name: fullName(t.Project, "topics", topic)}, nil
	case KindSQS:
		if t.ToQueueURL == "" {
			return Destination{}, badConfig("sqs: replay needs --to-queue-url (or --config with the worker's queue_url)")
		}
		c, err := t.sqsClient(ctx)
		if err != nil {
			return Destination{}, err
		}
		p, err := awssqs.NewPublisher(c, t.ToQueueURL, awssqs.PublisherOptions{})
		if err != nil {
			return Destination{}, err
		}
		return Destination{Publisher: p, Name: t.ToQueueURL, MaxAttributes: awssqs.MaxAttributes, FIFO: strings.HasSuffix(t.ToQueueURL, ".fifo")}, nil
	}
	return Destination{}, badConfig("name the dead letters: --pubsub-project and --subscription, --sqs-queue-url, or --config FILE")
}
