package awssqs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// Client is the SQS client this package's constructors take, named here so
// that code which only passes one along (the dlq tool) need not import the
// SDK.
type Client = sqs.Client

// dlqAPI is the part of the SQS client a DeadLetterReader uses.
type dlqAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// DeadLetterReader reads a dead-letter queue without consuming it:
// ReceiveMessage (all message and system attributes, the lease as
// visibility timeout, long polling up to the wait), DeleteMessageBatch to
// ack, ChangeMessageVisibilityBatch to 0 to release.
//
// On a FIFO queue SQS hands out no more of a message group while some of
// it is in flight, so a read sees at most one receive's worth (ten) of
// each group: the DLQ of a FIFO queue, whose dead letters keep their
// group, may hold more than a read shows.
type DeadLetterReader struct {
	api   dlqAPI
	url   string
	lease int32
}

// NewDeadLetterReader returns a reader of the dead-letter queue queueURL
// that leases what it receives for lease (rounded up to whole seconds, cut
// to MaxVisibility).
func NewDeadLetterReader(client *sqs.Client, queueURL string, lease time.Duration) (*DeadLetterReader, error) {
	if client == nil {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "awssqs: dead-letter reader: nil client")
	}
	return newDeadLetterReader(client, queueURL, lease)
}

func newDeadLetterReader(api dlqAPI, queueURL string, lease time.Duration) (*DeadLetterReader, error) {
	if queueURL == "" {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "awssqs: dead-letter reader: the queue URL is required")
	}
	if lease <= 0 {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "awssqs: dead-letter reader: lease %v is not positive", lease)
	}
	lease = min(lease, MaxVisibility)
	return &DeadLetterReader{api: api, url: queueURL, lease: int32((lease + time.Second - 1) / time.Second)}, nil
}

// Name is the queue URL.
func (r *DeadLetterReader) Name() string { return r.url }

// Receive returns up to limit messages, long polling up to 20 s at a time
// until wait has passed (one short poll for wait <= 0). An empty batch
// with a nil error means nothing came within wait.
func (r *DeadLetterReader) Receive(ctx context.Context, limit int, wait time.Duration) ([]sources.DLQMessage, error) {
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		secs := int32(min(max(left, 0), MaxWaitTime) / time.Second)
		out, err := r.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    &r.url,
			MaxNumberOfMessages:         int32(min(limit, MaxBatch)),
			WaitTimeSeconds:             secs,
			VisibilityTimeout:           r.lease,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return nil, Classify("dlq: receive from "+r.url, err)
		}
		if len(out.Messages) > 0 {
			msgs := make([]sources.DLQMessage, len(out.Messages))
			for i, m := range out.Messages {
				msgs[i] = dlqMessage(m)
			}
			return msgs, nil
		}
		if time.Until(deadline) <= 0 {
			return nil, nil
		}
		if secs == 0 {
			// A short poll under a second of wait left: pace it.
			t := time.NewTimer(min(time.Until(deadline), 250*time.Millisecond))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("dlq: receive from %s: %w", r.url, ctx.Err())
			case <-t.C:
			}
		}
	}
}

func dlqMessage(m types.Message) sources.DLQMessage {
	out := sources.DLQMessage{
		ID:     aws.ToString(m.MessageId),
		Body:   []byte(aws.ToString(m.Body)),
		Handle: aws.ToString(m.ReceiptHandle),
	}
	if len(m.MessageAttributes) > 0 {
		out.Attributes = make(map[string]string, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			switch {
			case v.StringValue != nil:
				out.Attributes[k] = *v.StringValue
			case v.BinaryValue != nil:
				out.Attributes[k] = base64.StdEncoding.EncodeToString(v.BinaryValue)
			}
		}
	}
	sys := m.Attributes
	out.OrderingKey = sys[string(types.MessageSystemAttributeNameMessageGroupId)]
	out.ReceiveCount, _ = strconv.Atoi(sys[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if ms, err := strconv.ParseInt(sys[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		out.PublishTime = time.UnixMilli(ms)
	}
	return out
}

// Ack removes messages from the queue for good, with DeleteMessageBatch
// ten per call.
func (r *DeadLetterReader) Ack(ctx context.Context, msgs []sources.DLQMessage) error {
	return r.batch(ctx, "delete", msgs, func(ctx context.Context, chunk []sources.DLQMessage) ([]types.BatchResultErrorEntry, error) {
		in := &sqs.DeleteMessageBatchInput{QueueUrl: &r.url}
		for i, m := range chunk {
			in.Entries = append(in.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.Handle)})
		}
		out, err := r.api.DeleteMessageBatch(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.Failed, nil
	})
}

// Release makes messages visible again at once, with
// ChangeMessageVisibilityBatch to 0.
func (r *DeadLetterReader) Release(ctx context.Context, msgs []sources.DLQMessage) error {
	return r.batch(ctx, "release", msgs, func(ctx context.Context, chunk []sources.DLQMessage) ([]types.BatchResultErrorEntry, error) {
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &r.url}
		for i, m := range chunk {
			in.Entries = append(in.Entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.Handle), VisibilityTimeout: 0,
			})
		}
		out, err := r.api.ChangeMessageVisibilityBatch(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.Failed, nil
	})
}

// batch runs call over msgs ten at a time and reports what failed.
func (r *DeadLetterReader) batch(ctx context.Context, op string, msgs []sources.DLQMessage, call func(context.Context, []sources.DLQMessage) ([]types.BatchResultErrorEntry, error)) error {
	var errs []error
	var refused []string
	for chunk := range slices.Chunk(msgs, MaxBatch) {
		failed, err := call(ctx, chunk)
		if err != nil {
			errs = append(errs, Classify(fmt.Sprintf("dlq: %s %d on %s", op, len(chunk), r.url), err))
			continue
		}
		for _, f := range failed {
			id := aws.ToString(f.Id)
			if i, err := strconv.Atoi(id); err == nil && i >= 0 && i < len(chunk) {
				id = chunk[i].ID
			}
			refused = append(refused, id+": "+aws.ToString(f.Code)+" "+aws.ToString(f.Message))
		}
	}
	if len(refused) > 0 {
		errs = append(errs, errkind.Errorf(errkind.Unknown, ReasonPartialFailure,
			"dlq: %s on %s: %d refused: %s", op, r.url, len(refused), strings.Join(refused, "; ")))
	}
	return errors.Join(errs...)
}

// Close does nothing: the SQS client holds nothing to release.
func (r *DeadLetterReader) Close() error { return nil }
