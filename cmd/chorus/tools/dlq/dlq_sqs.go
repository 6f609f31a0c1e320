package dlq

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

	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/worker/errkind"
)

// sqsAPI is the part of the SQS client the reader uses.
type sqsAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// SQSOptions configure an SQSReader.
type SQSOptions struct {
	// QueueURL is the dead-letter queue (required).
	QueueURL string
	// Lease is the visibility timeout asked for on receive (whole
	// seconds); default DefaultLease.
	Lease time.Duration
}

// SQSReader reads a dead-letter queue: ReceiveMessage (all message and
// system attributes, the lease as visibility timeout, long polling up to
// the wait), DeleteMessageBatch to ack, ChangeMessageVisibilityBatch to 0
// to release.
//
// On a FIFO queue SQS hands out no more of a message group while some of
// it is in flight, so a read sees at most one receive's worth (ten) of
// each group: the DLQ of a FIFO queue, whose dead letters keep their
// group, may hold more than list shows.
type SQSReader struct {
	api   sqsAPI
	url   string
	lease int32
}

var _ Reader = (*SQSReader)(nil)

// NewSQSReader returns a reader of o.QueueURL with client (see
// awssqs.NewClient).
func NewSQSReader(client *sqs.Client, o SQSOptions) (*SQSReader, error) {
	if client == nil {
		return nil, badConfig("sqs: nil client")
	}
	return newSQSReader(client, o)
}

func newSQSReader(api sqsAPI, o SQSOptions) (*SQSReader, error) {
	if o.QueueURL == "" {
		return nil, badConfig("sqs: the dead-letter queue URL is required (--sqs-queue-url)")
	}
	lease := o.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	lease = min(lease, awssqs.MaxVisibility)
	return &SQSReader{api: api, url: o.QueueURL, lease: int32((lease + time.Second - 1) / time.Second)}, nil
}

// Name implements Reader.
func (r *SQSReader) Name() string { return r.url }

// Receive implements Reader: long polls of up to 20 s each until wait has
// passed (one short poll for wait <= 0).
func (r *SQSReader) Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		secs := int32(min(max0(left), awssqs.MaxWaitTime) / time.Second)
		out, err := r.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    &r.url,
			MaxNumberOfMessages:         int32(min(max, awssqs.MaxBatch)),
			WaitTimeSeconds:             secs,
			VisibilityTimeout:           r.lease,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return nil, awssqs.Classify("dlq: receive from "+r.url, err)
		}
		if len(out.Messages) > 0 {
			msgs := make([]*Message, len(out.Messages))
			for i, m := range out.Messages {
				msgs[i] = sqsMessage(m)
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

func max0(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

func sqsMessage(m types.Message) *Message {
	out := &Message{
		ID:     aws.ToString(m.MessageId),
		Body:   []byte(aws.ToString(m.Body)),
		handle: aws.ToString(m.ReceiptHandle),
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

// Ack implements Reader with DeleteMessageBatch, ten per call.
func (r *SQSReader) Ack(ctx context.Context, msgs []*Message) error {
	return r.batch(ctx, "delete", msgs, func(ctx context.Context, chunk []*Message) ([]types.BatchResultErrorEntry, error) {
		in := &sqs.DeleteMessageBatchInput{QueueUrl: &r.url}
		for i, m := range chunk {
			in.Entries = append(in.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(receipt(m))})
		}
		out, err := r.api.DeleteMessageBatch(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.Failed, nil
	})
}

// Release implements Reader with ChangeMessageVisibilityBatch to 0.
func (r *SQSReader) Release(ctx context.Context, msgs []*Message) error {
	return r.batch(ctx, "release", msgs, func(ctx context.Context, chunk []*Message) ([]types.BatchResultErrorEntry, error) {
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &r.url}
		for i, m := range chunk {
			in.Entries = append(in.Entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(receipt(m)), VisibilityTimeout: 0,
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
func (r *SQSReader) batch(ctx context.Context, op string, msgs []*Message, call func(context.Context, []*Message) ([]types.BatchResultErrorEntry, error)) error {
	var errs []error
	var refused []string
	for chunk := range slices.Chunk(msgs, awssqs.MaxBatch) {
		failed, err := call(ctx, chunk)
		if err != nil {
			errs = append(errs, awssqs.Classify(fmt.Sprintf("dlq: %s %d on %s", op, len(chunk), r.url), err))
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
		errs = append(errs, errkind.Errorf(errkind.Unknown, awssqs.ReasonPartialFailure,
			"dlq: %s on %s: %d refused: %s", op, r.url, len(refused), strings.Join(refused, "; ")))
	}
	return errors.Join(errs...)
}

func receipt(m *Message) string {
	s, _ := m.handle.(string)
	return s
}

// Close implements Reader; the SQS client holds nothing to release.
func (r *SQSReader) Close() error { return nil }
