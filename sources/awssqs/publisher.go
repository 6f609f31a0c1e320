package awssqs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// DefaultMaxMessageBytes is SQS's classic message size limit, which is
// also its limit on a whole SendMessageBatch request.
const DefaultMaxMessageBytes = 262_144

// PublisherOptions configures a Publisher.
type PublisherOptions struct {
	// MaxMessageBytes bounds one message and one batch call (body plus
	// attribute names, types and values); default DefaultMaxMessageBytes.
	MaxMessageBytes int
}

// Publisher sends messages to an SQS queue with SendMessageBatch. It
// implements sources.Publisher and is safe for concurrent use.
//
// On a standard queue a Publish call sends several batches at once. On a
// FIFO queue (URL ending in .fifo) it sends them one after another and
// stops at the first failure, so a message group's order holds;
// OutMessage.OrderingKey is the message group (required) and DedupID the
// deduplication ID (default: a SHA-256 of the body).
type Publisher struct {
	api      api
	url      string
	fifo     bool
	maxBytes int
	closed   atomic.Bool
}

var _ sources.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher for queueURL.
func NewPublisher(client *sqs.Client, queueURL string, o PublisherOptions) (*Publisher, error) {
	if client == nil {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "awssqs: nil client")
	}
	return newPublisher(client, queueURL, o)
}

func newPublisher(c api, queueURL string, o PublisherOptions) (*Publisher, error) {
	if queueURL == "" {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "awssqs: publisher: queue URL is required")
	}
	if o.MaxMessageBytes < 0 {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "awssqs: publisher: MaxMessageBytes %d, want > 0", o.MaxMessageBytes)
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return &Publisher{api: c, url: queueURL, fifo: isFIFO(queueURL), maxBytes: o.MaxMessageBytes}, nil
}

// MaxMessageBytes implements sources.Publisher.
func (p *Publisher) MaxMessageBytes() int { return p.maxBytes }

// Close implements sources.Publisher. Publish returns nothing unsent, so
// there is nothing to flush.
func (p *Publisher) Close(context.Context) error {
	p.closed.Store(true)
	return nil
}

// Publish implements sources.Publisher: msgs go out in batches of at most
// ten entries and MaxMessageBytes. ids[i] is msgs[i]'s SQS message ID, or
// "" if it was not confirmed; the error names the messages that failed
// and is retryable when any of them may succeed on a retry.
func (p *Publisher) Publish(ctx context.Context, msgs []sources.OutMessage) ([]string, error) {
	ids := make([]string, len(msgs))
	if p.closed.Load() {
		return ids, errkind.New(errkind.Permanent, ReasonPublisherClosed, fmt.Errorf("awssqs: publish: %w", sources.ErrClosed))
	}
	var (
		failed  []entryError
		batches [][]int // indexes into msgs
		cur     []int
		curSize int
	)
	for i, m := range msgs {
		size := len(m.Body) + attributesSize(m.Attributes)
		switch {
		case size > p.maxBytes:
			failed = append(failed, entryError{name: "#" + strconv.Itoa(i), code: string(ReasonTooLarge),
				message: fmt.Sprintf("%d bytes, limit %d", size, p.maxBytes), senderFault: true})
			continue
		case len(m.Attributes) > MaxAttributes:
			failed = append(failed, entryError{name: "#" + strconv.Itoa(i), code: "too_many_attributes",
				message: fmt.Sprintf("%d attributes, SQS allows %d", len(m.Attributes), MaxAttributes), senderFault: true})
			continue
		case p.fifo && m.OrderingKey == "":
			failed = append(failed, entryError{name: "#" + strconv.Itoa(i), code: "missing_ordering_key",
				message: "a FIFO queue needs OrderingKey (the message group)", senderFault: true})
			continue
		}
		if len(cur) == MaxBatch || curSize+size > p.maxBytes {
			batches = append(batches, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, i)
		curSize += size
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	if p.fifo && len(failed) > 0 {
		// Sending the rest would put a group's later messages before the
		// ones refused here.
		return ids, publishError(len(msgs), failed, nil)
	}

	var (
		mu       sync.Mutex
		callErrs []error
		wg       sync.WaitGroup
		parallel = batchParallel
	)
	if p.fifo {
		parallel = 1
	}
	sem := make(chan struct{}, parallel)
	for _, b := range batches {
		sem <- struct{}{}
		mu.Lock()
		stop := p.fifo && (len(callErrs) > 0 || len(failed) > 0)
		mu.Unlock()
		if stop || ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			ok, bad, err := p.send(ctx, msgs, b)
			mu.Lock()
			defer mu.Unlock()
			for i, id := range ok {
				ids[i] = id
			}
			failed = append(failed, bad...)
			if err != nil {
				callErrs = append(callErrs, err)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil && len(callErrs) == 0 {
		for _, id := range ids {
			if id == "" {
				callErrs = append(callErrs, fmt.Errorf("awssqs: publish: %w", err))
				break
			}
		}
	}
	return ids, publishError(len(msgs), failed, callErrs)
}

// send sends one batch, the messages at idx.
func (p *Publisher) send(ctx context.Context, msgs []sources.OutMessage, idx []int) (map[int]string, []entryError, error) {
	in := &sqs.SendMessageBatchInput{QueueUrl: &p.url, Entries: make([]types.SendMessageBatchRequestEntry, len(idx))}
	for j, i := range idx {
		m := msgs[i]
		e := types.SendMessageBatchRequestEntry{
			Id:                ptr(strconv.Itoa(j)),
			MessageBody:       ptr(string(m.Body)),
			MessageAttributes: toSQSAttributes(m.Attributes),
		}
		if p.fifo {
			e.MessageGroupId = ptr(m.OrderingKey)
			dedup := m.DedupID
			if dedup == "" {
				dedup = dedupID("", m.Body)
			}
			e.MessageDeduplicationId = &dedup
		}
		in.Entries[j] = e
	}
	out, err := p.api.SendMessageBatch(ctx, in)
	if err != nil {
		return nil, nil, wrap(fmt.Sprintf("publish %d messages", len(idx)), err)
	}
	ok := make(map[int]string, len(out.Successful))
	for _, r := range out.Successful {
		if j, err := strconv.Atoi(deref(r.Id)); err == nil && j >= 0 && j < len(idx) {
			ok[idx[j]] = deref(r.MessageId)
		}
	}
	var bad []entryError
	for _, f := range out.Failed {
		name := deref(f.Id)
		if j, err := strconv.Atoi(name); err == nil && j >= 0 && j < len(idx) {
			name = "#" + strconv.Itoa(idx[j])
		}
		bad = append(bad, entryErr(name, f))
	}
	return ok, bad, nil
}

// publishError joins whole-call failures and refused entries.
func publishError(total int, failed []entryError, callErrs []error) error {
	if len(failed) == 0 && len(callErrs) == 0 {
		return nil
	}
	var err error
	if len(failed) > 0 {
		err = batchError("publish", total, failed)
		// Messages refused before sending are bad input, not a broker
		// fault.
		if allOurs(failed) {
			err = errkind.New(errkind.InvalidInput, ReasonInvalidMessage, err)
		}
	}
	return errors.Join(append(callErrs, err)...)
}

// allOurs reports whether every failure was found before sending.
func allOurs(failed []entryError) bool {
	for _, f := range failed {
		switch f.code {
		case string(ReasonTooLarge), "too_many_attributes", "missing_ordering_key":
		default:
			return false
		}
	}
	return true
}

// dedupID derives a FIFO deduplication ID from a source message ID and a
// body: SHA-256, hex (SQS allows 128 characters).
func dedupID(sourceID string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(sourceID))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}
