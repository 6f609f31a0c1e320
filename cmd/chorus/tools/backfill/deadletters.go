package backfill

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/chorusml/chorus/cmd/chorus/tools/dlq"
	"github.com/chorusml/chorus/worker/job"
)

// DeadLetterCounter counts the jobs of a run in the dead-letter queue.
type DeadLetterCounter interface {
	CountDeadLetters(ctx context.Context, runID string) (DeadLetterCount, error)
}

// DeadLetterCount is what a DeadLetterCounter found.
type DeadLetterCount struct {
	// Jobs is the distinct (tenant, response_id) of the run's dead letters.
	Jobs int64
	// Source names what was read (dlq.Reader.Name).
	Source string
	// Truncated reports a read that stopped at its maximum: Jobs is a
	// lower bound.
	Truncated bool
}

// DLQCounter counts a run's dead letters by reading the dead-letter
// subscription or queue with dlq.List, which leases what it reads and
// releases all of it: nothing is consumed.
type DLQCounter struct {
	Reader dlq.Reader
	Read   dlq.ReadOptions
}

// CountDeadLetters implements DeadLetterCounter. A dead letter belongs to
// the run when its original run_id attribute says so (the SQS driver may
// have packed it into chorus_original_attributes). Its body is one job
// (the one that failed) or the whole message (an array, when the message
// as a whole failed or the broker moved it); each job counts once however
// often it was dead-lettered, as in the sink's count.
func (c DLQCounter) CountDeadLetters(ctx context.Context, runID string) (DeadLetterCount, error) {
	l, err := dlq.List(ctx, c.Reader, c.Read)
	if err != nil {
		return DeadLetterCount{}, err
	}
	seen := map[Key]bool{}
	for _, m := range l.Messages {
		// Rewrite is the original attributes, the packed ones unpacked;
		// with no run id and DLQ id it adds nothing.
		attrs := dlq.Rewrite(m.Attributes, "", "", 0)
		if attrs[job.AttrRunID] != runID {
			continue
		}
		for _, k := range deadJobKeys(m, attrs[job.AttrTenant]) {
			seen[k] = true
		}
	}
	return DeadLetterCount{Jobs: int64(len(seen)), Source: l.Source, Truncated: l.Truncated}, nil
}

// deadJobKeys returns the keys of the jobs in a dead letter's body: one
// per element of a JSON array, one for anything else. A job without a
// string response_id (the body may be why it failed) gets a key of its
// own: the dead letter's id and its position. tenant fills a missing
// tenant, as the worker does.
func deadJobKeys(m *dlq.Message, tenant string) []Key {
	own := func(i int) Key { return Key{Tenant: "\x00dlq", ResponseID: m.ID + "/" + strconv.Itoa(i)} }
	key := func(i int, raw json.RawMessage) Key {
		var f struct {
			ResponseID any `json:"response_id"`
			Tenant     any `json:"tenant"`
		}
		if json.Unmarshal(raw, &f) != nil {
			return own(i)
		}
		id, ok := f.ResponseID.(string)
		if !ok || id == "" {
			return own(i)
		}
		t, ok := f.Tenant.(string)
		if !ok || t == "" {
			t = tenant
		}
		return Key{Tenant: t, ResponseID: id}
	}
	var arr []json.RawMessage
	if json.Unmarshal(m.Body, &arr) == nil && len(arr) > 0 {
		keys := make([]Key, len(arr))
		for i, raw := range arr {
			keys[i] = key(i, raw)
		}
		return keys
	}
	return []Key{key(0, m.Body)}
}
