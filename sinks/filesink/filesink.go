// Package filesink is a sink driver that appends results to a JSONL file,
// the embedded default of `chorus demo`.
//
// The file is an append log: each Write appends its rows as JSON lines and
// fsyncs them before it returns, so a row is durable by the time the worker
// acks its message. Writing a key again appends a newer line; readers
// resolve the log by Result.Key with the last write winning, which is what
// ReadAll does. Compact rewrites the file with one line per key.
//
// Concurrent Writes are group-committed: a single writer goroutine takes
// every batch that is waiting, appends them with one write and one fsync,
// then answers them all, so the fsync cost is shared under load.
//
// One Sink per file at a time.
package filesink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/internal/inflight"
	"github.com/chorusml/chorus/worker/atomicfile"
	"github.com/chorusml/chorus/worker/errkind"
)

// ReasonInvalidRow is the errkind reason of a row Write rejects.
const ReasonInvalidRow = sinks.ReasonInvalidRow

// Reasons of the errors of the file itself, named by the step that failed.
const (
	ReasonOpenFailed    errkind.Reason = "open_failed"
	ReasonWriteFailed   errkind.Reason = "write_failed"
	ReasonCloseFailed   errkind.Reason = "close_failed"
	ReasonReadFailed    errkind.Reason = "read_failed"
	ReasonCompactFailed errkind.Reason = "compact_failed"
	// ReasonBroken: a failed write left the file in a state no later
	// write can build on.
	ReasonBroken errkind.Reason = "sink_broken"
	// ReasonCorruptFile: a line of the file does not parse.
	ReasonCorruptFile errkind.Reason = "corrupt_file"
)

// Options configures a Sink. The zero value is a usable default.
type Options struct {
	// CompactOnClose makes Close rewrite the file with one line per key
	// (see Compact). It costs a full read and rewrite, so it suits a demo's
	// end of run more than a long-lived worker.
	CompactOnClose bool
}

// Sink appends results to a JSONL file. It implements sinks.Sink.
type Sink struct {
	path string
	opts Options

	mu    sync.Mutex
	queue []*commit
	// writes counts the commits queued and not yet answered: a Write
	// leaves when the writer answers it.
	writes inflight.Tracker

	kick       chan struct{}
	stop       chan struct{}
	writerDone chan struct{}

	// Owned by the writer goroutine.
	f       *os.File
	size    int64 // bytes known committed
	scratch []byte
	broken  error // set once an fsync fails: nothing after it can be trusted
}

// commit is one Write waiting for the writer.
type commit struct {
	buf  []byte
	done chan error
}

var _ sinks.Sink = (*Sink)(nil)

// Open opens path for appending, creating it if needed. A last line left
// incomplete by a crash (its Write never returned nil) is cut off first, so
// new lines do not run into it.
func Open(path string, opts Options) (*Sink, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, errkind.New(kindOfFS(err), ReasonOpenFailed, fmt.Errorf("filesink: %w", err))
	}
	size, err := repairTail(f)
	if err == nil {
		_, err = f.Seek(size, io.SeekStart)
	}
	if err == nil {
		// Make the file's own directory entry durable, in case we just
		// created it.
		err = atomicfile.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		f.Close()
		return nil, errkind.New(errkind.Retryable, ReasonOpenFailed, fmt.Errorf("filesink: open %s: %w", path, err))
	}
	s := &Sink{
		path:       path,
		opts:       opts,
		f:          f,
		size:       size,
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// repairTail truncates f after its last newline and returns the new size.
func repairTail(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			good := start + int64(i) + 1
			if good == size {
				return size, nil
			}
			return good, truncate(f, good)
		}
		end = start
	}
	if size == 0 {
		return 0, nil
	}
	return 0, truncate(f, 0)
}

func truncate(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

// Write implements sinks.Sink. Rows that fail validation (empty tenant,
// response_id or pipeline_version; a NaN or infinite score) are reported
// in *sinks.RowErrors with errkind.InvalidInput and the others committed.
// Once Write has handed its rows to the writer it waits for the fsync even
// if ctx ends, so that an error always means "not known to be committed".
func (s *Sink) Write(ctx context.Context, rows []sinks.Result) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filesink: write: %w", err)
	}
	var (
		buf     bytes.Buffer
		rowErrs sinks.RowErrors
	)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range rows {
		if err := sinks.CheckRow(&rows[i]); err != nil {
			rowErrs = append(rowErrs, sinks.RowError{Index: i, Err: err})
			continue
		}
		if err := enc.Encode(&rows[i]); err != nil {
			rowErrs = append(rowErrs, sinks.RowError{Index: i, Err: errkind.New(errkind.InvalidInput, ReasonInvalidRow, err)})
		}
	}

	c := &commit{buf: buf.Bytes(), done: make(chan error, 1)}
	if !s.writes.Enter() {
		return errkind.New(errkind.Permanent, sinks.ReasonClosed, fmt.Errorf("filesink: write: %w", sinks.ErrClosed))
	}
	if len(c.buf) == 0 {
		s.writes.Leave()
		return rowErrsOrNil(rowErrs)
	}
	s.mu.Lock()
	s.queue = append(s.queue, c)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	if err := <-c.done; err != nil {
		return err
	}
	return rowErrsOrNil(rowErrs)
}

func rowErrsOrNil(re sinks.RowErrors) error {
	if len(re) == 0 {
		return nil
	}
	return re
}

// writer appends every waiting commit with one write and one fsync.
func (s *Sink) writer() {
	defer close(s.writerDone)
	var batch []*commit
	for {
		select {
		case <-s.kick:
		case <-s.stop:
			return
		}
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		s.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		err := s.append(batch)
		for i, c := range batch {
			c.done <- err
			batch[i] = nil
			s.writes.Leave()
		}
	}
}

func (s *Sink) append(batch []*commit) error {
	if s.broken != nil {
		return s.broken
	}
	buf := batch[0].buf
	if len(batch) > 1 {
		s.scratch = s.scratch[:0]
		for _, c := range batch {
			s.scratch = append(s.scratch, c.buf...)
		}
		buf = s.scratch
	}
	if _, err := s.f.Write(buf); err != nil {
		// Cut off whatever part made it, so the next batch starts on a
		// line boundary.
		if terr := s.f.Truncate(s.size); terr != nil {
			s.broken = errkind.New(errkind.Retryable, ReasonBroken, fmt.Errorf("filesink: %s unusable after a failed write: %w", s.path, errors.Join(err, terr)))
			return s.broken
		}
		_, _ = s.f.Seek(s.size, io.SeekStart)
		return errkind.New(errkind.Retryable, ReasonWriteFailed, fmt.Errorf("filesink: write %s: %w", s.path, err))
	}
	if err := s.f.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages
		// and cleared the error; a later fsync would lie.
		s.broken = errkind.New(errkind.Retryable, ReasonBroken, fmt.Errorf("filesink: fsync %s: %w", s.path, err))
		return s.broken
	}
	s.size += int64(len(buf))
	return nil
}

// Close implements sinks.Sink: it waits for Writes in progress (or ctx),
// closes the file and, with Options.CompactOnClose, compacts it. Closing
// twice is a no-op.
func (s *Sink) Close(ctx context.Context) error {
	// Only the Close whose release ran, in time, compacts. Past ctx the
	// writer finishes the queue on its own, the file stays open until then
	// and nobody waits for a compaction; a later Close runs no release, and
	// compacting there could replace the file under that writer.
	released := false // a late release sets it too, but err then says so and it is not read
	err := s.writes.Close(ctx, func() error {
		released = true
		return s.closeFile()
	})
	if errors.Is(err, inflight.ErrWritesInProgress) {
		return fmt.Errorf("filesink: close: %w", err)
	}
	if err != nil || !released || !s.opts.CompactOnClose {
		return err
	}
	return Compact(s.path)
}

// closeFile stops the writer, once every queued commit is answered, and
// closes the file.
func (s *Sink) closeFile() error {
	close(s.stop)
	<-s.writerDone
	if err := s.f.Close(); err != nil {
		return errkind.New(errkind.Retryable, ReasonCloseFailed, fmt.Errorf("filesink: %w", err))
	}
	return nil
}

// ReadAll reads a file written by a Sink and returns one row per key, the
// last written, in the order keys first appeared. An incomplete last line
// (a crash mid-Write, which therefore never returned nil) is ignored; any
// other bad line is an error.
func ReadAll(path string) ([]sinks.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errkind.New(kindOfFS(err), ReasonReadFailed, fmt.Errorf("filesink: %w", err))
	}
	defer f.Close()
	var (
		rows  []sinks.Result
		index = map[sinks.Key]int{}
		r     = bufio.NewReaderSize(f, 64<<10)
	)
	for no := 1; ; no++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// No newline: a torn write, or the end.
			return rows, nil
		}
		if err != nil {
			return nil, errkind.New(errkind.Retryable, ReasonReadFailed, fmt.Errorf("filesink: read %s: %w", path, err))
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var row sinks.Result
		if err := json.Unmarshal(line, &row); err != nil {
			return nil, errkind.New(errkind.Permanent, ReasonCorruptFile, fmt.Errorf("filesink: %s:%d: %w", path, no, err))
		}
		k := row.Key()
		if i, ok := index[k]; ok {
			rows[i] = row
		} else {
			index[k] = len(rows)
			rows = append(rows, row)
		}
	}
}

// Compact rewrites path with one line per key (what ReadAll returns),
// atomically: a temporary file, fsynced, renamed over path. It must not
// run while a Sink has path open: the Sink would keep appending to the
// replaced file. Sink.Close runs it safely with Options.CompactOnClose.
func Compact(path string) error {
	rows, err := ReadAll(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return errkind.New(kindOfFS(err), ReasonCompactFailed, fmt.Errorf("filesink: %w", err))
	}
	err = atomicfile.Write(path, fi.Mode().Perm(), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i := range rows {
			if err := enc.Encode(&rows[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return errkind.New(errkind.Retryable, ReasonCompactFailed, fmt.Errorf("filesink: compact %s: %w", path, err))
	}
	return nil
}

func kindOfFS(err error) errkind.Kind {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return errkind.Permanent
	}
	return errkind.Retryable
}
