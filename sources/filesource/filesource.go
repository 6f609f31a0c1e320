// Package filesource is a source driver that reads messages from a JSONL
// file, one message per line, for the embedded demo and local runs.
//
// A message's body is its line without the line ending; it has no
// attributes, and its ID is "PATH:LINE" with PATH as given to Open and LINE
// counted from 1, so IDs are stable across restarts. Blank lines are
// skipped.
//
// Acks are durable across restarts: the source keeps a checkpoint file next
// to the input (the byte offset of the longest fully acked prefix plus the
// acked line ranges above it), rewritten atomically at most every
// Options.SyncInterval and on Close. A restarted source re-reads only what
// was not acked at the last checkpoint; as everywhere in Chorus, delivery is
// at least once.
//
// The file is read once, not tailed: lines appended after the source has
// reached the end of the file are not seen until it is reopened. At the end
// Receive returns empty batches (waiting about a second each, so a pull loop
// does not spin) and Done reports when every line has been acked.
//
// One Source per file at a time: two would share the checkpoint.
package filesource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/internal/contract"
	"github.com/chorusml/chorus/sources/internal/delayq"
	"github.com/chorusml/chorus/sources/internal/flow"
	"github.com/chorusml/chorus/sources/internal/wake"
	"github.com/chorusml/chorus/worker/errkind"
)

// Defaults for zero Options fields.
const (
	DefaultMaxOutstandingMessages = sources.DefaultMaxOutstandingMessages
	DefaultMaxOutstandingBytes    = sources.DefaultMaxOutstandingBytes
	DefaultMaxLineBytes           = 16 << 20
	DefaultSyncInterval           = time.Second
)

// Reasons of this driver's errors (errkind reasons, stable).
const (
	// ReasonCheckpointUnreadable: the checkpoint file cannot be read.
	ReasonCheckpointUnreadable errkind.Reason = "checkpoint_unreadable"
	// ReasonCheckpointCorrupt: the checkpoint does not parse or holds impossible values.
	ReasonCheckpointCorrupt errkind.Reason = "checkpoint_corrupt"
	// ReasonReadFailed: reading the input (or a dead-letter file) failed.
	ReasonReadFailed errkind.Reason = "read_failed"
	// ReasonCheckpointMismatch: the checkpoint was written for other input.
	ReasonCheckpointMismatch errkind.Reason = "checkpoint_mismatch"
	// ReasonCheckpointFailed: writing the checkpoint failed.
	ReasonCheckpointFailed errkind.Reason = "checkpoint_failed"
	// ReasonDeadLetterFailed: writing a dead letter failed.
	ReasonDeadLetterFailed errkind.Reason = "dead_letter_failed"
	// ReasonDeadLetterCorrupt: a dead-letter file line does not parse.
	ReasonDeadLetterCorrupt errkind.Reason = "dead_letter_corrupt"
	// ReasonOpenFailed: the input file cannot be opened.
	ReasonOpenFailed errkind.Reason = "open_failed"
)

// ReasonLineTooLong is the reason a line over Options.MaxLineBytes is
// dead-lettered with. Such a line is skipped and counts as acked.
const ReasonLineTooLong errkind.Reason = "line_too_long"

// maxWait is how long Receive blocks when nothing is available.
const maxWait = time.Second

// tooLongPrefix is how much of an over-long line its dead letter keeps.
const tooLongPrefix = 4 << 10

// Options configures a Source. The zero value is a usable default.
type Options struct {
	// FlowControl bounds what is handed out and not acked or nacked. Zero
	// fields take the Default… constants; negative ones disable the bound.
	FlowControl sources.FlowControl
	// CheckpointPath defaults to the input path + ".checkpoint".
	CheckpointPath string
	// DeadLetterPath defaults to the input path + ".deadletter.jsonl".
	DeadLetterPath string
	// SyncInterval bounds how long an ack may stay out of the checkpoint
	// (what a crash re-delivers). Default DefaultSyncInterval.
	SyncInterval time.Duration
	// MaxLineBytes bounds a line; longer lines are dead-lettered with
	// ReasonLineTooLong instead of held in memory. Default
	// DefaultMaxLineBytes.
	MaxLineBytes int
}

// Line states.
const (
	lineOut     = iota // handed out
	lineWaiting        // nacked, in the ready queue or the delay heap
	lineAcked
)

// line is one non-blank line read from the file and not yet resolved when
// read. Guarded by Source.mu.
type line struct {
	no       int
	end      int64 // offset just past the line and its newline
	body     []byte
	attempts int
	state    int
}

// delivery is one hand-out of a line; Handle points back to it so that a
// stale ack (after a nack or a redelivery) can be told apart.
type delivery struct {
	msg     sources.Message
	l       *line
	src     *Source
	attempt int
}

// Source reads one JSONL file. It implements sources.Source.
type Source struct {
	path, ckPath, dlPath string
	idPrefix             string
	maxLine              int
	f                    *os.File

	mu       sync.Mutex
	r        *bufio.Reader
	nextLine int   // number of the next line to read
	offset   int64 // offset of the next line to read
	eof      bool
	readErr  error
	peek     *line // read but over the flow-control window
	ready    []*line
	delayed  delayq.Queue[*line]
	win      flow.Window
	// unresolved counts lines read and not yet acked.
	unresolved int
	// Lines 1..prefix are acked; prefixOff is the offset just past them.
	prefix    int
	prefixOff int64
	// acked holds acked lines above prefix, as ranges; preAcked holds the
	// ranges the checkpoint had above its prefix that have not been read
	// again yet.
	acked    spans
	preAcked [][2]int
	dirty    bool
	flushErr error
	closed   bool
	wake     wake.Signal // wakes Receive callers
	done     chan struct{}
	drained  bool

	ckMu        sync.Mutex // serialises checkpoint writes
	kick        chan struct{}
	stop        chan struct{}
	flusherDone chan struct{}

	dlMu     sync.Mutex
	dlFile   *os.File
	dlClosed bool
}

var _ sources.Source = (*Source)(nil)

// Open opens path, resuming from its checkpoint if there is one. It fails
// with an errkind.Permanent error when the checkpoint does not fit the file
// (a file replaced or truncated since).
func Open(path string, opts Options) (*Source, error) {
	s := &Source{
		path:     path,
		ckPath:   cmp(opts.CheckpointPath, path+".checkpoint"),
		dlPath:   cmp(opts.DeadLetterPath, path+".deadletter.jsonl"),
		idPrefix: path + ":",
		win:      flow.New(opts.FlowControl, DefaultMaxOutstandingMessages, DefaultMaxOutstandingBytes),
		maxLine:  orDefault(opts.MaxLineBytes, DefaultMaxLineBytes),
		done:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, errkind.New(kindOfFS(err), ReasonOpenFailed, fmt.Errorf("filesource: %w", err))
	}
	cp, err := readCheckpoint(s.ckPath)
	if err == nil {
		err = s.resume(f, cp)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	s.f = f
	s.r = bufio.NewReaderSize(f, 64<<10)

	interval := opts.SyncInterval
	if interval <= 0 {
		interval = DefaultSyncInterval
	}
	s.flusherDone = make(chan struct{})
	go s.flushLoop(interval)
	return s, nil
}

func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func kindOfFS(err error) errkind.Kind {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return errkind.Permanent
	}
	return errkind.Retryable
}

// Done is closed once Receive has reached the end of the file and every
// line has been acked: the input is fully processed. Close does not close
// it.
func (s *Source) Done() <-chan struct{} { return s.done }

// Close implements sources.Source: it writes the checkpoint and closes the
// files. What was handed out and not acked is delivered again by the next
// Source on the file. Closing twice is a no-op.
func (s *Source) Close(context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.wake.Broadcast()
	s.mu.Unlock()

	close(s.stop)
	<-s.flusherDone
	// A checkpoint failure the flusher saw is moot if this one succeeds.
	err := errors.Join(s.flush(), s.f.Close())
	s.dlMu.Lock()
	s.dlClosed = true
	if s.dlFile != nil {
		err = errors.Join(err, s.dlFile.Close())
	}
	s.dlMu.Unlock()
	return err
}

func errClosed(op string) error { return contract.ErrClosed("filesource", op) }

func foreignErr(op string, n int) error {
	return contract.ErrForeign("filesource", op, n, "from this source")
}
