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
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/internal/contract"
	"github.com/chorusml/chorus/sources/internal/delayq"
	"github.com/chorusml/chorus/sources/internal/flow"
	"github.com/chorusml/chorus/sources/internal/wake"
	"github.com/chorusml/chorus/worker/atomicfile"
	"github.com/chorusml/chorus/worker/errkind"
)

// Defaults for zero Options fields.
const (
	DefaultMaxOutstandingMessages = sources.DefaultMaxOutstandingMessages
	DefaultMaxOutstandingBytes    = sources.DefaultMaxOutstandingBytes
	DefaultMaxLineBytes           = 16 << 20
	DefaultSyncInterval           = time.Second
)

// ReasonLineTooLong is the reason a line over Options.MaxLineBytes is
// dead-lettered with. Such a line is skipped and counts as acked.
const ReasonLineTooLong = "line_too_long"

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
		return nil, errkind.New(kindOfFS(err), "open_failed", fmt.Errorf("filesource: %w", err))
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
		return checkpoint{}, errkind.New(kindOfFS(err), "checkpoint_unreadable", fmt.Errorf("filesource: %w", err))
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return checkpoint{}, errkind.New(errkind.Permanent, "checkpoint_corrupt", fmt.Errorf("filesource: checkpoint %s: %w", path, err))
	}
	if cp.Version != checkpointVersion || cp.Line < 0 || cp.Offset < 0 {
		return checkpoint{}, errkind.Errorf(errkind.Permanent, "checkpoint_corrupt", "filesource: checkpoint %s: version %d, line %d, offset %d", path, cp.Version, cp.Line, cp.Offset)
	}
	return cp, nil
}

// resume positions the reader after the checkpoint's prefix, checking that
// the prefix still ends at a line boundary of f.
func (s *Source) resume(f *os.File, cp checkpoint) error {
	if cp.Offset > 0 {
		fi, err := f.Stat()
		if err != nil {
			return errkind.New(errkind.Retryable, "read_failed", fmt.Errorf("filesource: %w", err))
		}
		ok := cp.Offset <= fi.Size()
		if ok && cp.Offset < fi.Size() {
			var b [1]byte
			_, err := f.ReadAt(b[:], cp.Offset-1)
			ok = err == nil && b[0] == '\n'
		}
		if !ok {
			return errkind.Errorf(errkind.Permanent, "checkpoint_mismatch",
				"filesource: checkpoint %s says %d lines end at offset %d, which is not a line end of %s (%d bytes): was the file replaced?",
				s.ckPath, cp.Line, cp.Offset, s.path, fi.Size())
		}
		if _, err := f.Seek(cp.Offset, io.SeekStart); err != nil {
			return errkind.New(errkind.Retryable, "read_failed", fmt.Errorf("filesource: %w", err))
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

// Done is closed once Receive has reached the end of the file and every
// line has been acked: the input is fully processed. Close does not close
// it.
func (s *Source) Done() <-chan struct{} { return s.done }

// Receive implements sources.Source. Nacked lines whose delay is over come
// before lines not yet read.
func (s *Source) Receive(ctx context.Context, max int) ([]*sources.Message, error) {
	if err := contract.CheckMax("filesource", max); err != nil {
		return nil, err
	}
	var (
		timer    wake.Timer
		deadline int64
	)
	defer timer.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("filesource: receive: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errClosed("receive")
		}
		if err := s.flushErr; err != nil {
			// A failed background checkpoint surfaces here, once, rather
			// than being lost.
			s.flushErr = nil
			s.mu.Unlock()
			return nil, err
		}
		now := time.Now().UnixNano()
		s.delayed.PopDue(now, func(l *line) { s.ready = append(s.ready, l) })
		ls, err := s.take(max)
		if len(ls) > 0 {
			s.mu.Unlock()
			return s.fill(ls), nil
		}
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		if deadline == 0 {
			deadline = now + int64(maxWait)
		}
		wait := time.Duration(deadline - now)
		if wait <= 0 {
			s.mu.Unlock()
			return nil, nil
		}
		if due, ok := s.delayed.Next(); ok {
			wait = min(wait, time.Duration(due-now))
		}
		woken := s.wake.Chan()
		s.mu.Unlock()
		timer.Wait(ctx, woken, wait)
	}
}

// take hands out up to max lines within flow control. A read error is
// returned with whatever was taken before it and then kept for the next
// calls. Caller holds mu.
func (s *Source) take(max int) ([]*line, error) {
	var ls []*line
	for len(ls) < max && len(s.ready) > 0 && s.win.Fits(len(s.ready[0].body)) {
		l := s.ready[0]
		s.ready[0] = nil
		s.ready = s.ready[1:]
		ls = append(ls, s.handOut(l))
	}
	if len(s.ready) == 0 {
		s.ready = nil // let the backing array go
	}
	for len(ls) < max {
		if s.peek == nil {
			l, err := s.next()
			if err != nil || l == nil {
				return ls, err
			}
			s.peek = l
		}
		if !s.win.Fits(len(s.peek.body)) {
			break
		}
		ls = append(ls, s.handOut(s.peek))
		s.peek = nil
	}
	return ls, nil
}

func (s *Source) handOut(l *line) *line {
	l.attempts++
	l.state = lineOut
	s.win.Add(len(l.body))
	return l
}

// next reads lines until one needs delivering, resolving on the way those
// that do not (blank, acked before a restart, too long). It returns nil at
// the end of the file. Caller holds mu.
func (s *Source) next() (*line, error) {
	if s.readErr != nil {
		return nil, s.readErr
	}
	for !s.eof {
		body, n, tooLong, err := s.readLine()
		if err != nil {
			s.readErr = errkind.New(errkind.Retryable, "read_failed", fmt.Errorf("filesource: read %s: %w", s.path, err))
			return nil, s.readErr
		}
		if n == 0 {
			s.eof = true
			s.checkDrained()
			break
		}
		no := s.nextLine
		s.nextLine++
		s.offset += int64(n)
		switch {
		case s.preAcked1(no), len(bytes.TrimSpace(body)) == 0 && !tooLong:
			s.resolve(no, s.offset)
		case tooLong:
			if err := s.parkTooLong(no, body, n); err != nil {
				// Unparked, the line must not be skipped: read it again
				// on a later call.
				s.readErr = err
				return nil, err
			}
			s.resolve(no, s.offset)
		default:
			s.unresolved++
			return &line{no: no, end: s.offset, body: body}, nil
		}
	}
	return nil, nil
}

// readLine reads one line and returns a copy of it without its line
// ending, the bytes it spans (0 at the end of the file) and whether it was
// cut short at MaxLineBytes. A last line without a newline counts.
func (s *Source) readLine() (body []byte, n int, tooLong bool, err error) {
	for {
		frag, err := s.r.ReadSlice('\n')
		n += len(frag)
		if !tooLong {
			if len(body)+len(frag) > s.maxLine+2 { // +2: the line ending
				tooLong = true
				body = append(body, frag[:min(len(frag), max(0, tooLongPrefix-len(body)))]...)
			} else {
				body = append(body, frag...)
			}
		} else if len(body) < tooLongPrefix {
			body = append(body, frag[:min(len(frag), tooLongPrefix-len(body))]...)
		}
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
		default:
			return nil, 0, false, err
		}
		break
	}
	if !tooLong {
		body = bytes.TrimSuffix(body, []byte("\n"))
		body = bytes.TrimSuffix(body, []byte("\r"))
		if len(body) > s.maxLine {
			tooLong = true
		}
	}
	return body, n, tooLong, nil
}

// preAcked1 reports whether line no was acked before a restart, consuming
// the ranges below it. Lines are read in order, so this is amortised O(1).
func (s *Source) preAcked1(no int) bool {
	for len(s.preAcked) > 0 && s.preAcked[0][1] < no {
		s.preAcked = s.preAcked[1:]
	}
	return len(s.preAcked) > 0 && s.preAcked[0][0] <= no
}

// parkTooLong dead-letters an over-long line. Caller holds mu; it is rare
// enough that writing under the lock does not matter.
func (s *Source) parkTooLong(no int, prefix []byte, n int) error {
	attrs := map[string]string{
		sources.AttrErrorClass:      ReasonLineTooLong,
		sources.AttrError:           fmt.Sprintf("line is %d bytes, limit %d; the body holds its first %d bytes", n, s.maxLine, len(prefix)),
		sources.AttrFailedAt:        "source",
		sources.AttrSourceMessageID: s.idPrefix + strconv.Itoa(no),
	}
	return s.appendDeadLetters(appendDeadLetter(nil, prefix[:min(len(prefix), tooLongPrefix)], attrs, time.Now()))
}

// resolve records line no, ending at end, as acked. Caller holds mu.
func (s *Source) resolve(no int, end int64) {
	s.dirty = true
	if no != s.prefix+1 {
		s.acked.add(no, end)
		return
	}
	s.prefix, s.prefixOff = no, end
	if len(s.acked) > 0 && s.acked[0].first == no+1 {
		s.prefix, s.prefixOff = s.acked[0].last, s.acked[0].end
		s.acked = slices.Delete(s.acked, 0, 1)
	}
}

// checkDrained closes done once everything is read and acked. Caller
// holds mu.
func (s *Source) checkDrained() {
	if s.drained || !s.eof || s.unresolved > 0 {
		return
	}
	s.drained = true
	close(s.done)
	// Checkpoint now: whoever waits on Done is about to shut down.
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// fill builds the messages outside the lock; a handed-out line's body and
// number do not change until it is acked or nacked, which needs its
// message first.
func (s *Source) fill(ls []*line) []*sources.Message {
	ds := make([]delivery, len(ls))
	out := make([]*sources.Message, len(ls))
	for i, l := range ls {
		d := &ds[i]
		d.l, d.src, d.attempt = l, s, l.attempts
		d.msg = sources.Message{
			ID:              s.idPrefix + strconv.Itoa(l.no),
			Body:            l.body,
			DeliveryAttempt: l.attempts,
			Handle:          d,
		}
		out[i] = &d.msg
	}
	return out
}

// current returns the line behind m if m is its live delivery. Caller
// holds mu.
func (s *Source) current(m *sources.Message) (*line, contract.Status) {
	d, ok := m.Handle.(*delivery)
	if !ok || d.src != s {
		return nil, contract.Foreign
	}
	if d.l.state != lineOut || d.l.attempts != d.attempt {
		return nil, contract.Stale
	}
	return d.l, contract.Live
}

func (s *Source) release(l *line) { s.win.Remove(len(l.body)) }

// Ack implements sources.Source. It only updates memory; the checkpoint
// follows within SyncInterval, so it ignores ctx.
func (s *Source) Ack(_ context.Context, msgs []*sources.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("ack")
	}
	foreign := contract.Each(msgs, s.current, func(l *line) {
		s.release(l)
		l.state = lineAcked
		l.body = nil
		s.unresolved--
		s.resolve(l.no, l.end)
	})
	s.checkDrained()
	s.wake.Broadcast()
	return foreignErr("ack", foreign)
}

// Nack implements sources.Source.
func (s *Source) Nack(_ context.Context, msgs []*sources.Message, delay time.Duration) error {
	if len(msgs) == 0 {
		return nil
	}
	readyAt := time.Now().Add(delay).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("nack")
	}
	foreign := contract.Each(msgs, s.current, func(l *line) {
		s.release(l)
		l.state = lineWaiting
		if delay <= 0 {
			s.ready = append(s.ready, l)
		} else {
			s.delayed.Push(readyAt, uint64(l.no), l)
		}
	})
	s.wake.Broadcast()
	return foreignErr("nack", foreign)
}

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
			return errkind.New(kindOfFS(err), "dead_letter_failed", fmt.Errorf("filesource: %w", err))
		}
		s.dlFile = f
	}
	if _, err := s.dlFile.Write(recs); err != nil {
		return errkind.New(errkind.Retryable, "dead_letter_failed", fmt.Errorf("filesource: write %s: %w", s.dlPath, err))
	}
	if err := s.dlFile.Sync(); err != nil {
		return errkind.New(errkind.Retryable, "dead_letter_failed", fmt.Errorf("filesource: sync %s: %w", s.dlPath, err))
	}
	return nil
}

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
		return errkind.New(errkind.Permanent, "checkpoint_failed", fmt.Errorf("filesource: %w", err))
	}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return errkind.New(errkind.Retryable, "checkpoint_failed", fmt.Errorf("filesource: write checkpoint: %w", err))
	}
	return nil
}

func errClosed(op string) error { return contract.ErrClosed("filesource", op) }

func foreignErr(op string, n int) error {
	return contract.ErrForeign("filesource", op, n, "from this source")
}

// span is a run of acked lines first..last; end is the offset just past
// last.
type span struct {
	first, last int
	end         int64
}

// spans is a sorted list of disjoint, non-adjacent spans. Acks arrive
// roughly in order, so it stays as short as the number of holes (lines
// outstanding or nacked), which flow control bounds.
type spans []span

func (ss *spans) add(no int, end int64) {
	s := *ss
	i := sort.Search(len(s), func(i int) bool { return s[i].last >= no })
	if i < len(s) && s[i].first <= no {
		return // already acked
	}
	joinLeft := i > 0 && s[i-1].last == no-1
	joinRight := i < len(s) && s[i].first == no+1
	switch {
	case joinLeft && joinRight:
		s[i-1].last, s[i-1].end = s[i].last, s[i].end
		*ss = slices.Delete(s, i, i+1)
	case joinLeft:
		s[i-1].last, s[i-1].end = no, end
	case joinRight:
		s[i].first = no
	default:
		*ss = slices.Insert(s, i, span{first: no, last: no, end: end})
	}
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
		return nil, errkind.New(kindOfFS(err), "read_failed", fmt.Errorf("filesource: %w", err))
	}
	var out []DeadLettered
	for i, ln := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		var rec deadLetterRecord
		if err := json.Unmarshal(ln, &rec); err != nil {
			return out, errkind.New(errkind.Permanent, "dead_letter_corrupt", fmt.Errorf("filesource: %s:%d: %w", path, i+1, err))
		}
		body := []byte(rec.Body)
		if rec.Body == nil {
			body = rec.BodyBase64
		}
		out = append(out, DeadLettered{Body: body, Attributes: rec.Attributes, At: rec.At})
	}
	return out, nil
}
