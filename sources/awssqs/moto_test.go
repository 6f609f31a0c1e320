package awssqs_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/chorusml/chorus/sources/awssqs/sqstest"
)

// TestMotoBehaviour measures what the harness's Capabilities rely on, and
// pins down where moto differs from SQS, so a moto upgrade that changes it
// shows here first.
func TestMotoBehaviour(t *testing.T) {
	srv := sqstest.StartMoto(t)
	c := srv.Client(t)
	newQueue := func(t *testing.T, ctx context.Context, o sqstest.QueueOpts) string {
		q, err := srv.CreateQueue(ctx, fmt.Sprintf("moto-%d", queueSeq.Add(1)), o)
		if err != nil {
			t.Fatal(err)
		}
		// moto under load can break the connection while answering a send
		// it has done; a send is not idempotent, so nothing retries it.
		// That is moto's transport, not the behaviour under test: look at
		// the queue, and send again only if the message is not there.
		for range 3 {
			if _, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q, MessageBody: aws.String("m")}); err == nil {
				break
			}
			attrs, aerr := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &q,
				AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
			if aerr == nil && attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)] == "1" {
				err = nil
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	recv := func(t *testing.T, ctx context.Context, q string, wait int32) *types.Message {
		t.Helper()
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &q, WaitTimeSeconds: wait, VisibilityTimeout: 30,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return nil
		}
		return &out.Messages[0]
	}
	visibility := func(t *testing.T, ctx context.Context, q string, m *types.Message, secs int32) error {
		_, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &q, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: secs})
		return err
	}

	tests := []struct {
		name string
		run  func(*testing.T, context.Context)
	}{
		// NackDelay: a visibility change holds the message for its
		// seconds, no less.
		{"visibility_change_is_honoured", func(t *testing.T, ctx context.Context) {
			q := newQueue(t, ctx, sqstest.QueueOpts{})
			m := recv(t, ctx, q, 0)
			at := time.Now()
			if err := visibility(t, ctx, q, m, 1); err != nil {
				t.Fatal(err)
			}
			if again := recv(t, ctx, q, 0); again != nil {
				t.Fatal("received during its 1s visibility change")
			}
			if again := recv(t, ctx, q, 2); again == nil || time.Since(at) < time.Second {
				t.Fatalf("after a 1s visibility change: %v after %v", again != nil, time.Since(at))
			}
		}},
		// DeliveryAttempt: ApproximateReceiveCount counts receives.
		{"receive_count", func(t *testing.T, ctx context.Context) {
			q := newQueue(t, ctx, sqstest.QueueOpts{})
			for want := 1; want <= 3; want++ {
				m := recv(t, ctx, q, 1)
				if m == nil {
					t.Fatalf("receive %d: nothing", want)
				}
				if got := m.Attributes["ApproximateReceiveCount"]; got != strconv.Itoa(want) {
					t.Fatalf("receive %d: ApproximateReceiveCount = %s", want, got)
				}
				if err := visibility(t, ctx, q, m, 0); err != nil {
					t.Fatal(err)
				}
			}
		}},
		// MaxDeliveries: the redrive policy moves a message on the receive
		// after maxReceiveCount receives, as SQS does.
		{"redrive", func(t *testing.T, ctx context.Context) {
			dlq, err := srv.CreateQueue(ctx, fmt.Sprintf("moto-dlq-%d", queueSeq.Add(1)), sqstest.QueueOpts{})
			if err != nil {
				t.Fatal(err)
			}
			q := newQueue(t, ctx, sqstest.QueueOpts{RedriveTo: dlq, MaxReceiveCount: 2})
			for i := range 2 {
				m := recv(t, ctx, q, 1)
				if m == nil {
					t.Fatalf("receive %d: nothing", i+1)
				}
				if err := visibility(t, ctx, q, m, 0); err != nil {
					t.Fatal(err)
				}
			}
			if m := recv(t, ctx, q, 0); m != nil {
				t.Fatal("received a third time with maxReceiveCount 2")
			}
			if got, err := srv.ReceiveAll(ctx, dlq); err != nil || len(got) != 1 {
				t.Fatalf("dead-letter queue holds %d (%v), want 1", len(got), err)
			}
		}},
		// Unlike SQS, moto accepts a superseded receipt handle: deleting
		// with the first receipt after a second receive deletes the
		// message. The driver never relies on either: it ignores stale
		// deliveries itself.
		{"stale_receipt_still_deletes", func(t *testing.T, ctx context.Context) {
			q := newQueue(t, ctx, sqstest.QueueOpts{})
			first := recv(t, ctx, q, 1)
			if err := visibility(t, ctx, q, first, 0); err != nil {
				t.Fatal(err)
			}
			if recv(t, ctx, q, 1) == nil {
				t.Fatal("no second receive")
			}
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q, ReceiptHandle: first.ReceiptHandle}); err != nil {
				t.Fatalf("delete with the first receipt: %v", err)
			}
			if d, _ := srv.Depth(ctx, q); !d.Empty() {
				t.Logf("moto now keeps a message deleted by a stale receipt: %+v", d)
			}
		}},
		// Quiet: a long poll already waiting sees a message made visible by
		// a visibility change only at its next once-a-second look (a send
		// wakes it at once). Logged, not asserted: the harness's Quiet
		// (1.5s) must stay above it.
		{"long_poll_sees_released_message", func(t *testing.T, ctx context.Context) {
			q := newQueue(t, ctx, sqstest.QueueOpts{})
			m := recv(t, ctx, q, 0)
			got := make(chan time.Time, 1)
			go func() {
				defer close(got)
				out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &q, WaitTimeSeconds: 5})
				if err == nil && len(out.Messages) > 0 {
					got <- time.Now()
				}
			}()
			time.Sleep(300 * time.Millisecond) // the poll is waiting
			at := time.Now()
			if err := visibility(t, ctx, q, m, 0); err != nil {
				t.Fatal(err)
			}
			if when, ok := <-got; ok {
				t.Logf("a waiting long poll saw the released message after %v", when.Sub(at).Round(time.Millisecond))
			} else {
				t.Error("a waiting long poll never saw the released message")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			tt.run(t, ctx)
		})
	}
}
