package memsource_test

import (
	"context"
	"fmt"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/memsource"
)

func Example() {
	ctx := context.Background()
	topic := memsource.NewTopic(memsource.TopicOptions{MaxDeliveries: 2})
	_ = topic.Publish(ctx,
		memsource.Message{Body: []byte(`{"response_id":"r-1","tenant":"acme","text":"Great app"}`)},
		memsource.Message{Body: []byte(`{"response_id":"r-2","tenant":"acme","text":"Crashes"}`)},
	)

	src := memsource.NewSource(topic, sources.FlowControl{MaxOutstandingMessages: 10})
	defer src.Close(ctx)
	msgs, _ := src.Receive(ctx, 10)
	for _, m := range msgs {
		fmt.Printf("%s attempt %d: %s\n", m.ID, m.DeliveryAttempt, m.Body)
	}

	// The first is done; the second failed and is retried once more.
	_ = src.Ack(ctx, msgs[:1])
	_ = src.Nack(ctx, msgs[1:], 10*time.Millisecond)
	again, _ := src.Receive(ctx, 10)
	fmt.Printf("%s attempt %d\n", again[0].ID, again[0].DeliveryAttempt)

	// The topic allows two deliveries, so this nack dead-letters it.
	_ = src.Nack(ctx, again, 0)
	for _, dl := range topic.DeadLetters() {
		fmt.Println("dead-lettered:", dl.Attributes[sources.AttrErrorClass])
	}
	// Output:
	// 1 attempt 1: {"response_id":"r-1","tenant":"acme","text":"Great app"}
	// 2 attempt 1: {"response_id":"r-2","tenant":"acme","text":"Crashes"}
	// 2 attempt 2
	// dead-lettered: max_delivery_attempts
}
