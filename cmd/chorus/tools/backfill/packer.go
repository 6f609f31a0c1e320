package backfill

import (
	"fmt"

	"github.com/chorusml/chorus/worker/errkind"
)

// DefaultJobsPerMessage is --jobs-per-message's default.
const DefaultJobsPerMessage = 100

// WorkerMaxJobsPerMessage is the worker's default limits.max_jobs_per_message:
// a message with more jobs is dead-lettered.
const WorkerMaxJobsPerMessage = 1000

// Packer packs encoded jobs into JSON-array message bodies of at most
// maxJobs jobs and maxBytes bytes.
type Packer struct {
	maxJobs, maxBytes int
	buf               []byte
	n                 int
}

// NewPacker returns a Packer. maxBytes is the room for the body: the
// queue's message limit less what attributes take.
func NewPacker(maxJobs, maxBytes int) (*Packer, error) {
	if maxJobs < 1 || maxJobs > WorkerMaxJobsPerMessage {
		return nil, errkind.Errorf(errkind.Permanent, ReasonBadConfig, "backfill: jobs per message %d, want 1 to %d (the worker's limits.max_jobs_per_message default)", maxJobs, WorkerMaxJobsPerMessage)
	}
	if maxBytes < 64 {
		return nil, errkind.Errorf(errkind.Permanent, ReasonBadConfig, "backfill: message size limit %d bytes is too small", maxBytes)
	}
	return &Packer{maxJobs: maxJobs, maxBytes: maxBytes}, nil
}

// ErrTooLarge is returned (wrapped) by Add for a job that cannot fit in any
// message.
var ErrTooLarge = errkind.New(errkind.InvalidInput, ReasonJobTooLarge, fmt.Errorf("job larger than the message size limit"))

// Fits reports whether a job of n encoded bytes fits in an empty message.
func (p *Packer) Fits(n int) bool { return n+2 <= p.maxBytes }

// Add appends an encoded job. If it does not fit in the current message,
// Add returns that message (body and job count) and starts a new one with
// the job. A job that fits in no message is refused with ErrTooLarge.
func (p *Packer) Add(enc []byte) (full []byte, jobs int, err error) {
	if !p.Fits(len(enc)) {
		return nil, 0, fmt.Errorf("backfill: %d bytes, limit %d: %w", len(enc)+2, p.maxBytes, ErrTooLarge)
	}
	// current body + "," + enc + "]"
	if p.n > 0 && (p.n == p.maxJobs || len(p.buf)+1+len(enc)+1 > p.maxBytes) {
		full, jobs = p.Flush()
	}
	if p.n == 0 {
		p.buf = append(p.buf[:0:0], '[')
	} else {
		p.buf = append(p.buf, ',')
	}
	p.buf = append(p.buf, enc...)
	p.n++
	return full, jobs, nil
}

// Flush returns the current message, if any, and starts an empty one.
func (p *Packer) Flush() ([]byte, int) {
	if p.n == 0 {
		return nil, 0
	}
	body := append(p.buf, ']')
	n := p.n
	p.buf, p.n = nil, 0
	return body, n
}

// Len is the number of jobs in the current message.
func (p *Packer) Len() int { return p.n }

// AttributesSize is what attrs count against a queue's message limit, with
// room for SQS's per-attribute data type.
func AttributesSize(attrs map[string]string) int {
	n := 0
	for k, v := range attrs {
		n += len(k) + len(v) + len("String") + 8
	}
	return n
}
