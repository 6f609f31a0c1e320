// Package sources defines the small driver interface every message source
// implements (Pub/Sub, SQS, in-memory, JSONL file), in the style of Go CDK's
// pubsub/driver. Drivers live in provider-named subpackages; sourcetest holds
// the conformance suite they all pass.
package sources

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"time"
)

// ErrClosed is returned by a source's methods after Close.
var ErrClosed = errors.New("source closed")

// Message is one message received from a source.
type Message struct {
	// ID is the broker's message id (Pub/Sub message id, SQS MessageId).
	ID string
	// Body is the payload: one job object or an array of jobs.
	Body []byte
	// Attributes are the message attributes (tenant, run_id, pipeline, …).
	Attributes map[string]string
	// PublishTime is when the broker accepted the message, if known.
	PublishTime time.Time
	// DeliveryAttempt counts deliveries, starting at 1; 0 when the broker
	// does not report it.
	DeliveryAttempt int
	// OrderingKey is the ordering key (Pub/Sub) or message group (SQS FIFO).
	OrderingKey string
	// Handle is private to the driver that produced the message.
	Handle any
}

// Size is the number of bytes the message counts against flow control.
func (m *Message) Size() int {
	n := len(m.Body)
	for k, v := range m.Attributes {
		n += len(k) + len(v)
	}
	return n
}

// DeadLetter asks a source to park a payload with the reason it failed.
type DeadLetter struct {
	// Message is the original message. DeadLetter does not ack it: the
	// caller acks once every job in it is resolved.
	Message *Message
	// Body is what is dead-lettered: the whole message body, or the raw JSON
	// of the one job that failed when a message carries several.
	Body []byte
	// Reason is machine-readable (snake_case), e.g. "text_too_long".
	Reason string
	// Detail is a human-readable explanation (never secrets).
	Detail string
	// Stage is where it failed: decode, route, endpoint, ensemble, sink.
	Stage string
}

// Dead-letter attributes added to a dead-lettered payload, alongside the
// original message's attributes: a dead letter always says why.
const (
	// AttrErrorClass is DeadLetter.Reason, machine-readable.
	AttrErrorClass = "chorus_error_class"
	// AttrError is DeadLetter.Detail, for a person.
	AttrError = "chorus_error"
	// AttrFailedAt is DeadLetter.Stage: where in the worker it failed.
	AttrFailedAt = "chorus_failed_at"
	// AttrSourceMessageID is the original message's ID.
	AttrSourceMessageID = "chorus_source_message_id"
	// AttrDeliveryAttempt is the original's delivery attempt, if known.
	AttrDeliveryAttempt = "chorus_delivery_attempt"
)

// Payload returns what a driver parks: the body (the original message's
// when Body is nil) and the original attributes plus the dead-letter ones.
func (dl DeadLetter) Payload() ([]byte, map[string]string) {
	body := dl.Body
	var orig map[string]string
	if m := dl.Message; m != nil {
		orig = m.Attributes
		if body == nil {
			body = m.Body
		}
	}
	attrs := make(map[string]string, len(orig)+5)
	maps.Copy(attrs, orig)
	attrs[AttrErrorClass] = dl.Reason
	attrs[AttrError] = dl.Detail
	attrs[AttrFailedAt] = dl.Stage
	if m := dl.Message; m != nil {
		attrs[AttrSourceMessageID] = m.ID
		if m.DeliveryAttempt > 0 {
			attrs[AttrDeliveryAttempt] = strconv.Itoa(m.DeliveryAttempt)
		}
	}
	return body, attrs
}

// FlowControl bounds what a source hands out and has not yet seen acked,
// nacked or dead-lettered-then-acked. Zero means the driver default; a
// negative value disables that bound.
type FlowControl struct {
	MaxOutstandingMessages int
	MaxOutstandingBytes    int
}

// Source is a message source driver.
//
// All methods are safe for concurrent use. Drivers report errors classified
// with worker/errkind and do not retry internally: retry lives in the worker.
// The conformance suite (sourcetest) also holds every driver to these rules:
//   - a message larger than MaxOutstandingBytes is handed out alone, not never;
//   - Receive on a cancelled context hands out nothing;
//   - a message keeps its ID across redeliveries;
//   - acking or nacking a stale delivery (one since redelivered) is ignored;
//   - after Close, every method returns an error wrapping ErrClosed.
type Source interface {
	// Receive returns up to max messages. It blocks until at least one is
	// available, ctx is done, or about a second has passed; an empty batch
	// with a nil error is fine. It never hands out messages beyond the
	// source's FlowControl bounds: when they are reached it waits for acks.
	Receive(ctx context.Context, max int) ([]*Message, error)
	// Ack confirms messages: they are never delivered again. Acking a
	// message twice, or after a nack, is ignored.
	Ack(ctx context.Context, msgs []*Message) error
	// Nack returns messages for redelivery no sooner than delay from now.
	Nack(ctx context.Context, msgs []*Message, delay time.Duration) error
	// DeadLetter parks payloads with their reasons. It does not ack the
	// original messages.
	DeadLetter(ctx context.Context, dls []DeadLetter) error
	// Close stops receiving. Messages handed out and not acked are released
	// for redelivery (immediately where the broker allows it).
	Close(ctx context.Context) error
}

// OutMessage is a message to publish (backfills, dead-letter replay).
type OutMessage struct {
	Body       []byte
	Attributes map[string]string
	// OrderingKey is the Pub/Sub ordering key or the SQS FIFO message group.
	OrderingKey string
	// DedupID is the SQS FIFO deduplication id (ignored elsewhere).
	DedupID string
}

// Publisher sends messages to a topic or queue. Safe for concurrent use.
type Publisher interface {
	// Publish sends msgs and returns their broker message IDs once the
	// broker has confirmed every one; on error, ids holds those confirmed
	// (empty strings for the rest), so a caller can checkpoint and resume.
	Publish(ctx context.Context, msgs []OutMessage) (ids []string, err error)
	// MaxMessageBytes is the broker's message size limit, so callers can
	// pack jobs up to it.
	MaxMessageBytes() int
	// Close flushes and releases the publisher.
	Close(ctx context.Context) error
}
