package dlq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// failureAttrs are the attributes a dead letter carries about its failure;
// a replay strips them (and every CloudPubSubDeadLetterSource* attribute).
var failureAttrs = []string{
	sources.AttrErrorClass,
	sources.AttrError,
	sources.AttrFailedAt,
	sources.AttrSourceMessageID,
	sources.AttrDeliveryAttempt,
	attrOriginalAttributes,
	AttrReplayRunID,
	AttrReplayedFrom,
}

// Selector picks the dead letters to replay: All, or those with one of
// Reasons, or those with one of IDs (DLQ message ids). Exactly one must be
// set.
type Selector struct {
	All     bool
	Reasons []string
	IDs     []string
}

func (s Selector) validate() error {
	n := 0
	if s.All {
		n++
	}
	if len(s.Reasons) > 0 {
		n++
	}
	if len(s.IDs) > 0 {
		n++
	}
	if n != 1 {
		return badConfig("replay: select with exactly one of --all, --reason or --id")
	}
	return nil
}

// Match reports whether m is selected.
func (s Selector) Match(m *Message) bool {
	switch {
	case s.All:
		return true
	case len(s.Reasons) > 0:
		return slices.Contains(s.Reasons, m.Reason())
	default:
		return slices.Contains(s.IDs, m.ID)
	}
}

// ReplayOptions configure Replay.
type ReplayOptions struct {
	ReadOptions
	Select Selector
	// RunID is put on every republished message as chorus_replay_run_id;
	// default NewRunID().
	RunID string
	// DryRun reads and selects, publishes nothing and releases everything.
	DryRun bool
	// Rate bounds republished messages per second; 0 for no bound.
	Rate float64
	// MaxAttributes is the most attributes the destination takes (SQS: 10);
	// 0 for no bound. When the rewritten attributes are over it, the
	// replay attributes are left out, chorus_replayed_from first.
	MaxAttributes int
	// FIFO gives each republished message a deduplication id made of the
	// run id and the dead letter's id (for SQS FIFO queues, so a replay is
	// not dropped as a duplicate of the original).
	FIFO bool
}

// ReplaySummary is what a replay did.
type ReplaySummary struct {
	RunID  string `json:"run_id"`
	DryRun bool   `json:"dry_run"`
	// Read is the distinct dead letters read.
	Read int `json:"read"`
	// Selected matched the selector; Replayed were republished and removed
	// from the DLQ; Failed could not be republished and are still there.
	Selected int `json:"selected"`
	Replayed int `json:"replayed"`
	Failed   int `json:"failed"`
	// AckFailed were republished but could not be removed from the DLQ: a
	// later replay would send them again. Counted in Replayed and Left.
	AckFailed int `json:"ack_failed,omitempty"`
	// Left is how many of those read are still in the DLQ.
	Left int `json:"left"`
	// Truncated reports that the read stopped at ReadOptions.Max: there
	// may be more in the DLQ, not looked at.
	Truncated bool `json:"truncated"`
	// ReplayedIDs maps each replayed dead letter's id to its new message id.
	ReplayedIDs map[string]string `json:"-"`
}

// NewRunID returns a fresh replay run id: "replay-" and a UTC time stamp
// and 6 random bytes in hex.
func NewRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "replay-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Replay republishes the dead letters o.Select picks to pub, with their
// original body, attributes (see Rewrite) and ordering key, and acks each
// one in the DLQ only once its republish is confirmed. Everything else
// read (not selected, failed to publish, or everything on a dry run) is
// released at the end. It returns the summary also on error; an error
// means something is left undone (a failed publish, ack or read).
func Replay(ctx context.Context, r Reader, pub sources.Publisher, o ReplayOptions) (ReplaySummary, error) {
	if err := o.Select.validate(); err != nil {
		return ReplaySummary{}, err
	}
	if pub == nil && !o.DryRun {
		return ReplaySummary{}, badConfig("replay: no destination to publish to")
	}
	if o.RunID == "" {
		o.RunID = NewRunID()
	}
	var lim *rate.Limiter
	if o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(o.Rate), max(1, min(int(o.Rate), 100)))
	}
	sum := ReplaySummary{RunID: o.RunID, DryRun: o.DryRun, ReplayedIDs: map[string]string{}}
	h := &held{byID: map[string]*Message{}}
	done := map[string]bool{} // acked: no longer held
	wanted := len(o.Select.IDs)
	var errs []error

	process := func(batch []*Message) error {
		var sel []*Message
		for _, m := range batch {
			if o.Select.Match(m) {
				sel = append(sel, m)
			}
		}
		sum.Selected += len(sel)
		if o.DryRun || len(sel) == 0 {
			return stopWhenFound(wanted, sum.Selected)
		}
		for chunk := range slices.Chunk(sel, publishChunk(lim)) {
			if lim != nil {
				if err := lim.WaitN(ctx, len(chunk)); err != nil {
					return fmt.Errorf("dlq: replay: rate limit: %w", err)
				}
			}
			outs := make([]sources.OutMessage, len(chunk))
			for i, m := range chunk {
				outs[i] = outMessage(m, o)
			}
			ids, perr := pub.Publish(ctx, outs)
			var ok []*Message
			for i, m := range chunk {
				if i < len(ids) && ids[i] != "" {
					ok = append(ok, m)
					sum.ReplayedIDs[m.ID] = ids[i]
				} else {
					sum.Failed++
				}
			}
			if perr != nil {
				errs = append(errs, fmt.Errorf("dlq: replay: publish: %w", perr))
			}
			sum.Replayed += len(ok)
			if len(ok) == 0 {
				continue
			}
			if err := r.Ack(context.WithoutCancel(ctx), ok); err != nil {
				sum.AckFailed += len(ok)
				errs = append(errs, fmt.Errorf("dlq: replay: %d republished dead letters not removed from %s: %w", len(ok), r.Name(), err))
			}
			// Acked, or republished with a failed ack: either way not
			// ours to release any more (a release would undo an ack that
			// did go through).
			for _, m := range ok {
				done[m.ID] = true
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return stopWhenFound(wanted, sum.Selected)
	}

	truncated, rerr := read(ctx, r, o.ReadOptions, h, process)
	if wanted > 0 && sum.Selected >= wanted {
		truncated = false // every id asked for was found
	}
	var rest []*Message
	for _, m := range h.order {
		if !done[m.ID] {
			rest = append(rest, m)
		}
	}
	if err := releaseAll(ctx, r, rest); err != nil {
		errs = append(errs, err)
	}
	if rerr != nil {
		errs = append(errs, fmt.Errorf("dlq: replay: reading %s: %w", r.Name(), rerr))
	}
	sum.Read = len(h.order)
	sum.Left = sum.Read - sum.Replayed + sum.AckFailed
	sum.Truncated = truncated
	if len(errs) > 0 {
		return sum, errors.Join(errs...)
	}
	if sum.Failed > 0 {
		return sum, errkind.Errorf(errkind.Unknown, ReasonReplayFailed, "dlq: replay: %d of %d selected dead letters were not republished", sum.Failed, sum.Selected)
	}
	return sum, nil
}

// stopWhenFound ends the read once every id asked for has been selected.
func stopWhenFound(wanted, selected int) error {
	if wanted > 0 && selected >= wanted {
		return errStop
	}
	return nil
}

// publishChunk is how many messages go to one Publish call: a rate limit
// paces them in chunks of at most its burst.
func publishChunk(lim *rate.Limiter) int {
	if lim == nil {
		return 1000
	}
	return lim.Burst()
}

func outMessage(m *Message, o ReplayOptions) sources.OutMessage {
	out := sources.OutMessage{
		Body:        m.Body,
		Attributes:  Rewrite(m.Attributes, o.RunID, m.ID, o.MaxAttributes),
		OrderingKey: m.OrderingKey,
	}
	if o.FIFO {
		out.DedupID = dedupID(o.RunID, m.ID)
	}
	return out
}

// dedupID is a FIFO deduplication id for one replayed dead letter: SQS
// allows 128 characters of alphanumerics and punctuation.
func dedupID(runID, id string) string {
	s := runID + "." + id
	if len(s) > 128 {
		s = s[len(s)-128:]
	}
	return s
}

// Rewrite returns the attributes a replayed dead letter is published with:
// the original message's attributes (tenant, run_id, pipeline and any
// other, including those the SQS driver packed into
// chorus_original_attributes), without the failure attributes (chorus_*
// reasons, CloudPubSubDeadLetterSource*), plus chorus_replay_run_id and
// chorus_replayed_from. With maxAttrs > 0 and more than that many, the
// replay attributes are left out (chorus_replayed_from first): the job's
// own attributes matter more to the worker.
func Rewrite(attrs map[string]string, runID, dlqID string, maxAttrs int) map[string]string {
	out := make(map[string]string, len(attrs)+2)
	for k, v := range attrs {
		if slices.Contains(failureAttrs, k) || strings.HasPrefix(k, pubsubDeadLetterPrefix) {
			continue
		}
		out[k] = v
	}
	if packed := attrs[attrOriginalAttributes]; packed != "" {
		var orig map[string]string
		if json.Unmarshal([]byte(packed), &orig) == nil {
			for _, k := range slices.Sorted(maps.Keys(orig)) {
				if _, ok := out[k]; !ok && !slices.Contains(failureAttrs, k) {
					out[k] = orig[k]
				}
			}
		}
	}
	for _, kv := range [][2]string{{AttrReplayRunID, runID}, {AttrReplayedFrom, dlqID}} {
		if maxAttrs > 0 && len(out) >= maxAttrs {
			break
		}
		if kv[1] != "" {
			out[kv[0]] = kv[1]
		}
	}
	return out
}
