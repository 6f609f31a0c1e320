// Package dlq is what `chorus dlq list|show|replay` does: read a
// dead-letter subscription (Pub/Sub) or dead-letter queue (SQS) without
// consuming it, group what is there by reason, print it, and republish a
// selection to the main topic or queue.
//
// A Reader is the small interface over the two brokers: it receives up to
// N messages and keeps them leased (invisible to other readers) until it
// acks them (gone for good) or releases them (visible again at once).
// Reading a dead-letter queue therefore never consumes it: List and Show
// lease everything they read and release it all at the end; Replay acks a
// dead letter only once its republish is confirmed, and releases the rest.
//
// A message keeps its lease for ReaderOptions.Lease; a reader that dies
// leaves its messages invisible until then, never lost. Messages seen again
// within one run (a lease that ran out, an SQS duplicate) are counted once.
//
// Reasons come from the attributes the sources write on an explicit dead
// letter (sources.AttrErrorClass and the rest). A dead letter without them
// was moved by the broker's own policy after too many deliveries (Pub/Sub's
// dead-letter policy, which adds CloudPubSubDeadLetterSourceDeliveryCount;
// SQS's redrive policy, which adds nothing): its reason is
// ReasonBrokerRedrive.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// ReasonBrokerRedrive is the reason of a dead letter the broker moved
// itself (max delivery attempts, max receives), without chorus_* reason
// attributes.
const ReasonBrokerRedrive = "broker_redrive"

// Attributes Pub/Sub adds to a message its dead-letter policy forwards.
const (
	AttrPubSubDeliveryCount = "CloudPubSubDeadLetterSourceDeliveryCount"
	// pubsubDeadLetterPrefix starts every such attribute (source
	// subscription, its project, the original publish time).
	pubsubDeadLetterPrefix = "CloudPubSubDeadLetterSource"
)

// Attributes a replay adds to each republished message.
const (
	// AttrReplayRunID is the replay's run id, printed by Replay, so the
	// replayed messages of one run can be found in logs and results.
	AttrReplayRunID = "chorus_replay_run_id"
	// AttrReplayedFrom is the dead letter's message id in the DLQ.
	AttrReplayedFrom = "chorus_replayed_from"
)

// attrOriginalAttributes is where the SQS driver packs, as a JSON object,
// the original attributes that did not fit in SQS's ten next to the reason
// attributes (awssqs.AttrOriginalAttributes).
const attrOriginalAttributes = "chorus_original_attributes"

// Defaults of ReadOptions and ReaderOptions.
const (
	DefaultMax   = 10_000
	DefaultWait  = 5 * time.Second
	DefaultLease = 10 * time.Minute
)

// Message is one dead letter as read from the DLQ.
type Message struct {
	// ID is the dead letter's own message id in the DLQ (Pub/Sub message
	// id, SQS MessageId), not the original's (see SourceMessageID).
	ID   string
	Body []byte
	// Attributes are the dead letter's attributes: the original message's
	// plus the chorus_* reason attributes, or the broker's.
	Attributes map[string]string
	// OrderingKey is the Pub/Sub ordering key or the SQS FIFO message
	// group.
	OrderingKey string
	// PublishTime is when the dead letter reached the DLQ (Pub/Sub publish
	// time; SQS SentTimestamp, which for a broker redrive is the original
	// send time).
	PublishTime time.Time
	// ReceiveCount is the broker's count of deliveries of the dead letter
	// (SQS ApproximateReceiveCount, this tool's reads included; Pub/Sub's
	// delivery attempt where the DLQ subscription reports one), 0 if
	// unknown.
	ReceiveCount int

	handle string // the reader's ack id or receipt handle
}

// Reason is the machine-readable reason: chorus_error_class, or
// ReasonBrokerRedrive when the broker moved the message itself.
func (m *Message) Reason() string {
	if r := m.Attributes[sources.AttrErrorClass]; r != "" {
		return r
	}
	return ReasonBrokerRedrive
}

// Detail is the human-readable explanation (chorus_error); for a broker
// redrive, what the broker reported.
func (m *Message) Detail() string {
	if d := m.Attributes[sources.AttrError]; d != "" {
		return d
	}
	if m.Attributes[sources.AttrErrorClass] != "" {
		return ""
	}
	if n := m.Attributes[AttrPubSubDeliveryCount]; n != "" {
		if sub := m.Attributes[pubsubDeadLetterPrefix+"Subscription"]; sub != "" {
			return "delivered " + n + " times from " + sub + " without an ack"
		}
		return "delivered " + n + " times without an ack"
	}
	return "moved by the queue's redrive policy after too many receives"
}

// Stage is where the worker failed (chorus_failed_at), "broker" for a
// broker redrive.
func (m *Message) Stage() string {
	if s := m.Attributes[sources.AttrFailedAt]; s != "" {
		return s
	}
	if m.Attributes[sources.AttrErrorClass] == "" {
		return "broker"
	}
	return ""
}

// DeliveryAttempts is how often the original was delivered before it was
// dead-lettered (chorus_delivery_attempt, or Pub/Sub's
// CloudPubSubDeadLetterSourceDeliveryCount), 0 if unknown.
func (m *Message) DeliveryAttempts() int {
	for _, k := range []string{sources.AttrDeliveryAttempt, AttrPubSubDeliveryCount} {
		if n, err := strconv.Atoi(m.Attributes[k]); err == nil {
			return n
		}
	}
	return 0
}

// SourceMessageID is the original message's id, if the dead letter says.
func (m *Message) SourceMessageID() string { return m.Attributes[sources.AttrSourceMessageID] }

// Reader reads a dead-letter subscription or queue. OpenPubSub and
// NewSQSReader return one over the source drivers' dead-letter readers.
// Not required to be safe for concurrent use.
type Reader interface {
	// Receive returns up to max messages, waiting at most wait for the
	// first (about a second more where the broker rounds up). An empty
	// batch with a nil error means nothing came within wait: the DLQ is
	// drained, as far as this reader can see. What it returns stays
	// leased until Ack, Release or the end of the lease.
	Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error)
	// Ack removes messages from the DLQ for good.
	Ack(ctx context.Context, msgs []*Message) error
	// Release makes messages visible again at once.
	Release(ctx context.Context, msgs []*Message) error
	// Name says what is read, e.g. "projects/p/subscriptions/s".
	Name() string
	// Close releases the reader's client. It does not release messages.
	Close() error
}

// ReadOptions bound a read of the DLQ.
type ReadOptions struct {
	// Max is the most distinct messages read; default DefaultMax.
	Max int
	// Wait is the idle timeout: the read stops when nothing arrives for
	// this long; default DefaultWait.
	Wait time.Duration
}

func (o ReadOptions) withDefaults() ReadOptions {
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	return o
}

// held is what one run has read and still leases, in first-seen order.
type held struct {
	byID  map[string]*Message
	order []*Message
}

// read receives until the DLQ is idle for o.Wait or o.Max distinct
// messages are held, handing each batch of first-seen messages to fn (nil
// for none); fn may stop the read by returning errStop. A message seen
// again gets its newer handle (the old one is stale). truncated reports a
// read that stopped at o.Max.
func read(ctx context.Context, r Reader, o ReadOptions, h *held, fn func([]*Message) error) (truncated bool, err error) {
	o = o.withDefaults()
	// Leases that lapse bring held messages back; bound the deliveries so
	// such a run still ends.
	budget := 2*o.Max + 100
	for len(h.order) < o.Max && budget > 0 {
		msgs, err := r.Receive(ctx, min(o.Max-len(h.order), 1000), o.Wait)
		if err != nil {
			return false, err
		}
		if len(msgs) == 0 {
			return false, nil
		}
		budget -= len(msgs)
		var fresh []*Message
		for _, m := range msgs {
			if old := h.byID[m.ID]; old != nil {
				old.handle = m.handle
				continue
			}
			h.byID[m.ID] = m
			h.order = append(h.order, m)
			fresh = append(fresh, m)
		}
		if fn != nil && len(fresh) > 0 {
			if err := fn(fresh); err != nil {
				if errors.Is(err, errStop) {
					return false, nil
				}
				return false, err
			}
		}
	}
	return true, nil
}

var errStop = errors.New("stop reading")

// Listing is what List read.
type Listing struct {
	// Source is Reader.Name.
	Source string
	// Messages are the dead letters read, first seen first.
	Messages []*Message
	// Truncated reports that the read stopped at ReadOptions.Max: the DLQ
	// may hold more.
	Truncated bool
}

// List reads the DLQ without consuming it: every message read is released
// before List returns, whatever happened (also when ctx ends).
func List(ctx context.Context, r Reader, o ReadOptions) (Listing, error) {
	h := &held{byID: map[string]*Message{}}
	truncated, err := read(ctx, r, o, h, nil)
	rerr := releaseAll(ctx, r, h.order)
	l := Listing{Source: r.Name(), Messages: h.order, Truncated: truncated}
	if err != nil {
		return l, fmt.Errorf("dlq: reading %s: %w", r.Name(), err)
	}
	return l, rerr
}

// releaseTimeout bounds the final release, which runs even when the
// caller's context has ended.
const releaseTimeout = 30 * time.Second

func releaseAll(ctx context.Context, r Reader, msgs []*Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := r.Release(ctx, msgs); err != nil {
		return fmt.Errorf("dlq: releasing %d messages on %s (they come back when their lease ends): %w", len(msgs), r.Name(), err)
	}
	return nil
}

// fullName returns "projects/P/KIND/ID" for an ID, a full name as is.
func fullName(project, kind, id string) string {
	if strings.HasPrefix(id, "projects/") {
		return id
	}
	return "projects/" + project + "/" + kind + "/" + id
}

func badConfig(format string, args ...any) error {
	return errkind.Errorf(errkind.Permanent, ReasonBadConfig, "dlq: "+format, args...)
}
