package dlq

import (
	"testing"

	"github.com/chorusml/chorus/worker/config"
)

func TestTargetApplyConfig(t *testing.T) {
	cases := []struct {
		name     string
		flags    Target
		src      config.Source
		want     Target
		wantKind string
	}{
		{"sqs from config",
			Target{}, config.Source{Type: "sqs", SQS: config.SQSSource{QueueURL: "q", DeadLetterQueueURL: "dlq", Region: "eu-west-1", Endpoint: "http://moto"}},
			Target{QueueURL: "dlq", ToQueueURL: "q", Region: "eu-west-1", Endpoint: "http://moto"}, KindSQS},
		{"flags win",
			Target{QueueURL: "other-dlq", ToQueueURL: "other"}, config.Source{Type: "sqs", SQS: config.SQSSource{QueueURL: "q", DeadLetterQueueURL: "dlq"}},
			Target{QueueURL: "other-dlq", ToQueueURL: "other"}, KindSQS},
		{"pubsub from config",
			Target{}, config.Source{Type: "pubsub", PubSub: config.PubSubSource{Project: "p", Subscription: "jobs", DeadLetterTopic: "dl"}},
			Target{Project: "p", SourceSubscription: "jobs", DeadLetterTopic: "dl"}, KindPubSub},
		{"pubsub flags with config",
			Target{Subscription: "dl-sub", ToTopic: "t"}, config.Source{Type: "pubsub", PubSub: config.PubSubSource{Project: "p", Subscription: "jobs"}},
			Target{Project: "p", Subscription: "dl-sub", ToTopic: "t", SourceSubscription: "jobs"}, KindPubSub},
		{"file source gives nothing", Target{}, config.Source{Type: "file"}, Target{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.flags
			got.ApplyConfig(&config.Config{Source: c.src})
			if got.Kind() != c.wantKind {
				t.Errorf("Kind = %q, want %q", got.Kind(), c.wantKind)
			}
			got.PubSubOptions = nil
			if got.Project != c.want.Project || got.Subscription != c.want.Subscription || got.ToTopic != c.want.ToTopic ||
				got.DeadLetterTopic != c.want.DeadLetterTopic || got.SourceSubscription != c.want.SourceSubscription ||
				got.QueueURL != c.want.QueueURL || got.ToQueueURL != c.want.ToQueueURL || got.Region != c.want.Region || got.Endpoint != c.want.Endpoint {
				t.Errorf("ApplyConfig = %+v, want %+v", got, c.want)
			}
		})
	}
}
