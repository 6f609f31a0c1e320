package filesource

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/chorusml/chorus/worker/atomicfile"
	"github.com/chorusml/chorus/worker/errkind"
)

// checkpoint is the durable ack state of one input file.
type checkpoint struct {
	Version int   `json:"version"`
	Line    int   `json:"line"`   // lines 1..Line are acked
	Offset  int64 `json:"offset"` // just past line Line
	// Acked are inclusive ranges of acked lines above Line, ascending.
	Acked [][2]int `json:"acked,omitempty"`
}

const checkpointVersion = 1

func readCheckpoint(path string) (checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return checkpoint{Version: checkpointVersion}, nil
	}
	if err != nil {
		return checkpoint{}, errkind.New(kindOfFS(err), ReasonCheckpointUnreadable, fmt.Errorf("filesource: %w", err))
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return checkpoint{}, errkind.New(errkind.Permanent, ReasonCheckpointCorrupt, fmt.Errorf("filesource: checkpoint %s: %w", path, err))
	}
	if cp.Version != checkpointVersion || cp.Line < 0 || cp.Offset < 0 {
		return checkpoint{}, errkind.Errorf(errkind.Permanent, ReasonCheckpointCorrupt, "filesource: checkpoint %s: version %d, line %d, offset %d", path, cp.Version, cp.Line, cp.Offset)
	}
	return cp, nil
}

// resume positions the reader after the checkpoint's prefix, checking that
// the prefix still ends at a line boundary of f.
func (s *Source) resume(f *os.File, cp checkpoint) error {
	if cp.Offset > 0 {
		fi, err := f.Stat()
		if err != nil {
			return errkind.New(errkind.Retryable, ReasonReadFailed, fmt.Errorf("filesource: %w", err))
		}
		ok := cp.Offset <= fi.Size()
		if ok && cp.Offset < fi.Size() {
			var b [1]byte
			_, err := f.ReadAt(b[:], cp.Offset-1)
			ok = err == nil && b[0] == '\n'
		}
		if !ok {
			return errkind.Errorf(errkind.Permanent, ReasonCheckpointMismatch,
				"filesource: checkpoint %s says %d lines end at offset %d, which is not a line end of %s (%d bytes): was the file replaced?",
				s.ckPath, cp.Line, cp.Offset, s.path, fi.Size())
		}
		if _, err := f.Seek(cp.Offset, io.SeekStart); err != nil {
			return errkind.New(errkind.Retryable, ReasonReadFailed, fmt.Errorf("filesource: %w", err))
		}
	}
	s.prefix, s.prefixOff = cp.Line, cp.Offset
	s.nextLine, s.offset = cp.Line+1, cp.Offset
	for _, r := range cp.Acked {
		r[0] = max(r[0], cp.Line+1)
		if r[0] <= r[1] {
			s.preAcked = append(s.preAcked, r)
		}
	}
	return nil
}

func (s *Source) flushLoop(interval time.Duration) {
	defer close(s.flusherDone)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		case <-s.kick:
		}
		if err := s.flush(); err != nil {
			s.mu.Lock()
			s.flushErr = err
			s.mu.Unlock()
		}
	}
}

// flush writes the checkpoint if acks changed it.
func (s *Source) flush() error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	cp := checkpoint{Version: checkpointVersion, Line: s.prefix, Offset: s.prefixOff}
	for _, sp := range s.acked {
		cp.Acked = append(cp.Acked, [2]int{sp.first, sp.last})
	}
	for _, r := range s.preAcked {
		// Lines already read again are in s.acked or the prefix.
		if r[0] = max(r[0], s.nextLine); r[0] <= r[1] {
			cp.Acked = append(cp.Acked, r)
		}
	}
	s.dirty = false
	s.mu.Unlock()

	if err := writeCheckpoint(s.ckPath, cp); err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return err
	}
	return nil
}

// writeCheckpoint replaces path atomically and durably.
func writeCheckpoint(path string, cp checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return errkind.New(errkind.Permanent, ReasonCheckpointFailed, fmt.Errorf("filesource: %w", err))
	}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return errkind.New(errkind.Retryable, ReasonCheckpointFailed, fmt.Errorf("filesource: write checkpoint: %w", err))
	}
	return nil
}
