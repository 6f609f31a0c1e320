package gcppubsub_test

import (
	"context"
	"fmt"
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

func Example() {
	ctx := context.Background()

	// An in-process fake stands in for Pub/Sub here. Against the service,
	// leave ClientOptions empty (Application Default Credentials); for the
	// emulator, set PUBSUB_EMULATOR_HOST.
	srv := pstest.NewServer()
	defer srv.Close()
	opts := []option.ClientOption{
		option.WithEndpoint(srv.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
	admin, _ := pubsub.NewClient(ctx, "demo", opts...)
	defer admin.Close()
	for _, topic := range []string{"feedback", "feedback-dlq"} {
		_, _ = admin.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: "projects/demo/topics/" + topic})
	}
	_, _ = admin.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{
		Name:  "projects/demo/subscriptions/feedback-sub",
		Topic: "projects/demo/topics/feedback",
	})

	// A backfill publishes with a Publisher.
	pub, _ := gcppubsub.NewPublisher(ctx, "demo", "feedback", gcppubsub.PublisherOptions{ClientOptions: opts})
	ids, _ := pub.Publish(ctx, []sources.OutMessage{{
		Body:       []byte(`{"response_id":"r-1","tenant":"acme","text":"Crashes on start"}`),
		Attributes: map[string]string{"tenant": "acme"},
	}})
	_ = pub.Close(ctx)

	// The worker reads with a Source.
	src, _ := gcppubsub.Open(ctx, gcppubsub.Options{
		Project:         "demo",
		Subscription:    "feedback-sub",
		DeadLetterTopic: "feedback-dlq",
		FlowControl:     sources.FlowControl{MaxOutstandingMessages: 100},
		ClientOptions:   opts,
	})
	defer src.Close(ctx)
	receive := func() []*sources.Message {
		for {
			if msgs, err := src.Receive(ctx, 10); len(msgs) > 0 || err != nil {
				return msgs
			}
		}
	}
	msgs := receive()
	fmt.Printf("tenant %s, ID as published: %v\n%s\n", msgs[0].Attributes["tenant"], msgs[0].ID == ids[0], msgs[0].Body)

	// A transient failure: hand it back for a retry in 100 ms. Pub/Sub has
	// no redelivery delay, so the Source holds the message until then.
	_ = src.Nack(ctx, msgs, 100*time.Millisecond)
	again := receive()
	fmt.Println("redelivered:", again[0].ID == msgs[0].ID)
	_ = src.Ack(ctx, again)
	// Output:
	// tenant acme, ID as published: true
	// {"response_id":"r-1","tenant":"acme","text":"Crashes on start"}
	// redelivered: true
}
