package filesource

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/internal/contract"
	"github.com/chorusml/chorus/sources/internal/wake"
	"github.com/chorusml/chorus/worker/errkind"
)

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
		wait, ok := s.delayed.Wait(now, deadline)
		if !ok {
			s.mu.Unlock()
			return nil, nil
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
			s.readErr = errkind.New(errkind.Retryable, ReasonReadFailed, fmt.Errorf("filesource: read %s: %w", s.path, err))
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
		sources.AttrErrorClass:      string(ReasonLineTooLong),
		sources.AttrError:           fmt.Sprintf("line is %d bytes, limit %d; the body holds its first %d bytes", n, s.maxLine, len(prefix)),
		sources.AttrFailedAt:        "source",
		sources.AttrSourceMessageID: s.idPrefix + strconv.Itoa(no),
	}
	return s.appendDeadLetters(appendDeadLetter(nil, prefix[:min(len(prefix), tooLongPrefix)], attrs, time.Now()))
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
