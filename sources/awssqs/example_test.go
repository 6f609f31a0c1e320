package awssqs_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs"
)

// A worker's receive loop over an SQS queue. (Not run: it needs a queue.
// The package's tests run the same calls against moto_server.)
func Example() {
	ctx := context.Background()
	client, err := awssqs.NewClient(ctx, "eu-west-1", "") // "" : the regional endpoint
	if err != nil {
		log.Fatal(err)
	}
	src, err := awssqs.New(client, awssqs.Options{
		QueueURL:           "https://sqs.eu-west-1.amazonaws.com/123456789012/feedback",
		DeadLetterQueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/feedback-dlq",
		VisibilityTimeout:  30 * time.Second, // renewed while a message is processed
		FlowControl:        sources.FlowControl{MaxOutstandingMessages: 500},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close(ctx) // what is still held becomes visible at once

	for ctx.Err() == nil {
		msgs, err := src.Receive(ctx, 100) // waits about a second at most
		if err != nil {
			log.Print(err) // classified with errkind: back off, or stop if permanent
			continue
		}
		var done []*sources.Message
		for _, m := range msgs {
			if len(m.Body) == 0 {
				// Park it with its reason, then ack the original.
				_ = src.DeadLetter(ctx, []sources.DeadLetter{{Message: m, Reason: "empty_message", Stage: "decode"}})
			}
			done = append(done, m)
		}
		if err := src.Ack(ctx, done); err != nil {
			log.Print(err)
		}
	}
}

// Publishing a backfill: batches of ten, within the size limit.
func ExamplePublisher() {
	ctx := context.Background()
	client, err := awssqs.NewClient(ctx, "eu-west-1", "")
	if err != nil {
		log.Fatal(err)
	}
	pub, err := awssqs.NewPublisher(client, "https://sqs.eu-west-1.amazonaws.com/123456789012/feedback", awssqs.PublisherOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close(ctx)
	ids, err := pub.Publish(ctx, []sources.OutMessage{
		{Body: []byte(`{"response_id":"r-1","tenant":"acme","text":"Great app"}`), Attributes: map[string]string{"run_id": "bf-7"}},
		{Body: []byte(`[{"response_id":"r-2","tenant":"acme","text":"Slow"},{"response_id":"r-3","tenant":"acme","text":"Crashes"}]`)},
	})
	if err != nil {
		// ids holds the confirmed ones ("" for the rest): checkpoint and
		// resend only those.
		log.Print(err)
	}
	fmt.Println(len(ids))
}
