package filesource

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// DeadLetter implements sources.Source: it appends one JSON object per
// dead letter to the dead-letter file and fsyncs it before returning. It
// does not ack the originals. Read the file with ReadDeadLetters.
func (s *Source) DeadLetter(ctx context.Context, dls []sources.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filesource: dead-letter: %w", err)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errClosed("dead-letter")
	}
	now := time.Now()
	var buf []byte
	for _, dl := range dls {
		body, attrs := dl.Payload()
		buf = appendDeadLetter(buf, body, attrs, now)
	}
	return s.appendDeadLetters(buf)
}

// appendDeadLetters writes records (JSON lines) to the dead-letter file
// with one write and one fsync.
func (s *Source) appendDeadLetters(recs []byte) error {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	if s.dlClosed {
		return errClosed("dead-letter")
	}
	if s.dlFile == nil {
		f, err := os.OpenFile(s.dlPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return errkind.New(kindOfFS(err), ReasonDeadLetterFailed, fmt.Errorf("filesource: %w", err))
		}
		s.dlFile = f
	}
	if _, err := s.dlFile.Write(recs); err != nil {
		return errkind.New(errkind.Retryable, ReasonDeadLetterFailed, fmt.Errorf("filesource: write %s: %w", s.dlPath, err))
	}
	if err := s.dlFile.Sync(); err != nil {
		return errkind.New(errkind.Retryable, ReasonDeadLetterFailed, fmt.Errorf("filesource: sync %s: %w", s.dlPath, err))
	}
	return nil
}

// DeadLettered is one record of a dead-letter file.
type DeadLettered struct {
	Body []byte
	// Attributes are the original message's attributes plus the reason
	// attributes (sources.AttrErrorClass, …).
	Attributes map[string]string
	At         time.Time
}

// deadLetterRecord is the JSON form of a DeadLettered. A body that is
// single-line JSON is embedded verbatim, readable in the file; any other
// body is base64.
type deadLetterRecord struct {
	At         time.Time         `json:"at"`
	Attributes map[string]string `json:"attributes"`
	Body       json.RawMessage   `json:"body,omitempty"`
	BodyBase64 []byte            `json:"body_base64,omitempty"`
}

// appendDeadLetter appends one record as a JSON line. It is built by hand
// because json.Marshal would reformat an embedded body.
func appendDeadLetter(buf, body []byte, attrs map[string]string, at time.Time) []byte {
	buf = append(buf, `{"at":"`...)
	buf = at.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","attributes":`...)
	a, _ := json.Marshal(attrs) // a map[string]string always encodes
	buf = append(buf, a...)
	if embeddable(body) {
		buf = append(buf, `,"body":`...)
		buf = append(buf, body...)
	} else {
		buf = append(buf, `,"body_base64":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, body)
		buf = append(buf, '"')
	}
	return append(buf, "}\n"...)
}

// embeddable reports whether body can sit in a JSON line as is and be
// read back byte for byte.
func embeddable(body []byte) bool {
	return len(body) > 0 &&
		len(bytes.TrimSpace(body)) == len(body) &&
		!bytes.ContainsAny(body, "\r\n") &&
		json.Valid(body)
}

// ReadDeadLetters reads a dead-letter file written by a Source. A missing
// file holds no dead letters.
func ReadDeadLetters(path string) ([]DeadLettered, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errkind.New(kindOfFS(err), ReasonReadFailed, fmt.Errorf("filesource: %w", err))
	}
	var out []DeadLettered
	for i, ln := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		var rec deadLetterRecord
		if err := json.Unmarshal(ln, &rec); err != nil {
			return out, errkind.New(errkind.Permanent, ReasonDeadLetterCorrupt, fmt.Errorf("filesource: %s:%d: %w", path, i+1, err))
		}
		body := []byte(rec.Body)
		if rec.Body == nil {
			body = rec.BodyBase64
		}
		out = append(out, DeadLettered{Body: body, Attributes: rec.Attributes, At: rec.At})
	}
	return out, nil
}
