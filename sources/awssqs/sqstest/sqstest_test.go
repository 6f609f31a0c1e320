package sqstest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/chorusml/chorus/sources/awssqs/sqstest"
)

// TestDeleteLogAndRevive checks the two halves of telling moto's leftovers
// apart: DeleteLog records only the handles a delete succeeded with, and
// Revive brings back exactly the messages that still answer to a handle.
// moto's lost-delete race cannot be triggered on demand, so the message
// that "survives its delete" here is one that was never deleted.
func TestDeleteLogAndRevive(t *testing.T) {
	srv := sqstest.StartMoto(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q, err := srv.CreateQueue(ctx, "revive", sqstest.QueueOpts{})
	if err != nil {
		t.Fatal(err)
	}
	var log sqstest.DeleteLog
	c := log.Record(srv.Client(t))
	for _, body := range []string{"a", "b"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	handles := map[string]string{}
	for len(handles) < 2 {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &q, MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			handles[aws.ToString(m.Body)] = aws.ToString(m.ReceiptHandle)
		}
	}
	out, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &q, Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("ok"), ReceiptHandle: aws.String(handles["a"])},
		{Id: aws.String("bad"), ReceiptHandle: aws.String("not-a-handle")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Successful) != 1 || len(out.Failed) != 1 {
		t.Fatalf("delete: %d successful, %d failed; want 1 and 1", len(out.Successful), len(out.Failed))
	}
	if got := log.Handles(); !slices.Equal(got, []string{handles["a"]}) {
		t.Fatalf("DeleteLog.Handles() = %q, want only the deleted handle", got)
	}

	n, err := srv.Revive(ctx, q, []string{handles["a"], handles["b"]})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("Revive = %d, want 1 (only b is still in the queue)", n)
	}
	left, err := srv.ReceiveAll(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Body != "b" {
		t.Fatalf("after Revive the queue gave %+v, want just b", left)
	}
}
