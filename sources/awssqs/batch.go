package awssqs

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// batchParallel is how many batch calls one operation has in flight.
const batchParallel = 4

// entry is one message in a delete or visibility-change batch.
type entry struct {
	d       *delivery
	receipt string
	timeout int32 // visibility changes only
}

// result is what SQS said about one entry. All false: the call failed as a
// whole (see the error returned alongside).
type result struct {
	ok     bool
	gone   bool // the receipt handle no longer names the current delivery
	failed *entryError
}

// deleteEntries deletes entries with DeleteMessageBatch, ten per call.
func (s *Source) deleteEntries(ctx context.Context, entries []entry) ([]result, error) {
	return s.batches(ctx, "delete", entries, func(ctx context.Context, chunk []entry) ([]string, []types.BatchResultErrorEntry, error) {
		in := &sqs.DeleteMessageBatchInput{QueueUrl: &s.o.QueueURL, Entries: make([]types.DeleteMessageBatchRequestEntry, len(chunk))}
		for i, e := range chunk {
			in.Entries[i] = types.DeleteMessageBatchRequestEntry{Id: ptr(strconv.Itoa(i)), ReceiptHandle: ptr(e.receipt)}
		}
		out, err := s.api.DeleteMessageBatch(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		ok := make([]string, len(out.Successful))
		for i, r := range out.Successful {
			ok[i] = deref(r.Id)
		}
		return ok, out.Failed, nil
	})
}

// changeEntries sets visibility timeouts with ChangeMessageVisibilityBatch,
// ten per call.
func (s *Source) changeEntries(ctx context.Context, entries []entry) ([]result, error) {
	return s.batches(ctx, "change visibility", entries, func(ctx context.Context, chunk []entry) ([]string, []types.BatchResultErrorEntry, error) {
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &s.o.QueueURL, Entries: make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))}
		for i, e := range chunk {
			in.Entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id: ptr(strconv.Itoa(i)), ReceiptHandle: ptr(e.receipt), VisibilityTimeout: e.timeout,
			}
		}
		out, err := s.api.ChangeMessageVisibilityBatch(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		ok := make([]string, len(out.Successful))
		for i, r := range out.Successful {
			ok[i] = deref(r.Id)
		}
		return ok, out.Failed, nil
	})
}

// batches runs call over chunks of ten entries, a few chunks at a time,
// and maps each entry's outcome back by its batch entry ID (its index in
// the chunk).
func (s *Source) batches(ctx context.Context, op string, entries []entry,
	call func(context.Context, []entry) ([]string, []types.BatchResultErrorEntry, error)) ([]result, error) {
	results := make([]result, len(entries))
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, batchParallel)
	)
	for start := 0; start < len(entries); start += MaxBatch {
		chunk := entries[start:min(start+MaxBatch, len(entries))]
		res := results[start : start+len(chunk)]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok, failed, err := call(ctx, chunk)
			if err != nil {
				mu.Lock()
				errs = append(errs, wrap(op, err))
				mu.Unlock()
				return
			}
			seen := make([]bool, len(chunk))
			for _, id := range ok {
				if i, err := strconv.Atoi(id); err == nil && i >= 0 && i < len(chunk) {
					res[i].ok, seen[i] = true, true
				}
			}
			for _, f := range failed {
				i, err := strconv.Atoi(deref(f.Id))
				if err != nil || i < 0 || i >= len(chunk) {
					continue
				}
				seen[i] = true
				ee := entryErr(chunk[i].d.id, f)
				if handleGone(ee.code, ee.message) {
					res[i].gone = true
				} else {
					res[i].failed = &ee
				}
			}
			for i := range chunk {
				if !seen[i] {
					res[i].failed = &entryError{name: chunk[i].d.id, code: "InternalError", message: "no result for this entry"}
				}
			}
		})
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
