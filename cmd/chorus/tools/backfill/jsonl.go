package backfill

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
)

// maxLineBytes bounds one JSONL line.
const maxLineBytes = 16 << 20

// JSONLReader reads one job object per line of a file. Blank lines are
// ignored.
type JSONLReader struct {
	f     *os.File
	r     *bufio.Reader
	line  int
	total int64
	hash  string
}

// OpenJSONL opens path and scans it once to count its records and hash
// its content (the input's identity for resume).
func OpenJSONL(path string) (*JSONLReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errkind.New(errkind.Permanent, ReasonBadInput, fmt.Errorf("backfill: %w", err))
	}
	h := sha256.New()
	var n int64
	br := bufio.NewReaderSize(io.TeeReader(f, h), 1<<20)
	for {
		line, err := readLine(br)
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, errkind.New(errkind.Permanent, ReasonBadInput, fmt.Errorf("backfill: reading %s: %w", path, err))
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, errkind.New(errkind.Permanent, ReasonBadInput, fmt.Errorf("backfill: %w", err))
	}
	return &JSONLReader{f: f, r: bufio.NewReaderSize(f, 1<<20), total: n, hash: hex.EncodeToString(h.Sum(nil))}, nil
}

// readLine returns the next line without its newline; io.EOF comes with
// the last (possibly empty) line.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		part, err := r.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > maxLineBytes {
			return nil, fmt.Errorf("line longer than %d bytes", maxLineBytes)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(buf, "\r\n"), err
	}
}

// Hash is the SHA-256 of the file's content.
func (r *JSONLReader) Hash() string { return r.hash }

// Total implements Reader.
func (r *JSONLReader) Total() int64 { return r.total }

// Read implements Reader.
func (r *JSONLReader) Read(ctx context.Context) (job.Job, error) {
	for {
		if err := ctx.Err(); err != nil {
			return job.Job{}, err
		}
		line, err := readLine(r.r)
		if err != nil && !errors.Is(err, io.EOF) {
			return job.Job{}, errkind.New(errkind.Permanent, ReasonBadInput, fmt.Errorf("backfill: line %d: %w", r.line+1, err))
		}
		r.line++
		if len(bytes.TrimSpace(line)) == 0 {
			if errors.Is(err, io.EOF) {
				return job.Job{}, io.EOF
			}
			continue
		}
		var j job.Job
		if jerr := json.Unmarshal(line, &j); jerr != nil {
			return job.Job{}, errkind.New(errkind.InvalidInput, ReasonBadJob, fmt.Errorf("backfill: line %d: %w", r.line, jerr))
		}
		if verr := validate(j); verr != nil {
			return job.Job{}, errkind.New(errkind.InvalidInput, ReasonBadJob, fmt.Errorf("backfill: line %d: %w", r.line, verr))
		}
		return j, nil
	}
}

// Close implements Reader.
func (r *JSONLReader) Close() error { return r.f.Close() }

// validate checks the fields every job needs.
func validate(j job.Job) error {
	switch {
	case j.ResponseID == "":
		return errors.New("response_id is required")
	case j.Tenant == "":
		return errors.New("tenant is required")
	case j.Text == "":
		return errors.New("text is required")
	}
	return nil
}
