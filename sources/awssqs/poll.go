package awssqs

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/chorusml/chorus/sources"
)

// systemAttributes are the system attributes asked for on receive.
var systemAttributes = []types.MessageSystemAttributeName{
	types.MessageSystemAttributeNameApproximateReceiveCount,
	types.MessageSystemAttributeNameMessageGroupId,
	types.MessageSystemAttributeNameSentTimestamp,
}

// poll is one long-polling loop. It asks for messages only while there is
// room for them under flow control and the buffer is not already holding
// enough to hand out, so nothing it receives waits long unseen.
func (s *Source) poll() {
	defer s.pollers.Done()
	for {
		s.mu.Lock()
		n := s.roomLocked()
		for n == 0 {
			woken := s.wake.Chan()
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-woken:
			}
			s.mu.Lock()
			n = s.roomLocked()
		}
		s.reserved += n
		s.mu.Unlock()

		select {
		case <-s.stop:
			s.mu.Lock()
			s.reserved -= n
			s.mu.Unlock()
			return
		default:
		}
		out, err := s.api.ReceiveMessage(s.pollCtx, &sqs.ReceiveMessageInput{
			QueueUrl:                    &s.o.QueueURL,
			MaxNumberOfMessages:         int32(n),
			WaitTimeSeconds:             s.wait,
			VisibilityTimeout:           int32(s.visibility / time.Second),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: systemAttributes,
		})
		now := s.clk.Now()

		s.mu.Lock()
		s.reserved -= n
		if err != nil {
			if s.pollCtx.Err() == nil && !s.closed {
				if s.recvErr == nil {
					s.recvErr = wrap("receive", err)
				}
			}
			s.wake.Broadcast()
			s.mu.Unlock()
			continue
		}
		for i := range out.Messages {
			s.addLocked(&out.Messages[i], now)
		}
		s.wake.Broadcast()
		s.mu.Unlock()
	}
}

// roomLocked is how many messages a poller may ask for now, 0 for none.
// Caller holds mu.
func (s *Source) roomLocked() int {
	if s.closed || s.recvErr != nil {
		return 0
	}
	n := MaxBatch
	held := s.win.Msgs() + s.bufMsgs + s.reserved
	if maxMsgs := s.win.MaxMsgs(); maxMsgs > 0 {
		n = min(n, maxMsgs-held)
	}
	if maxBytes := s.win.MaxBytes(); maxBytes > 0 {
		used := s.win.Bytes() + s.bufBytes + int(float64(s.reserved)*s.avgSize)
		if used >= maxBytes && held > 0 {
			return 0
		}
		if s.avgSize > 0 {
			n = min(n, max(1, int(float64(maxBytes-used)/s.avgSize)))
		}
	}
	// Do not hoard: enough ready in the buffer (or on its way) to serve
	// the next Receive calls is enough.
	if s.readyLocked()+s.reserved >= s.bufCap {
		return 0
	}
	return max(n, 0)
}

// readyLocked counts buffered messages Receive could hand out next: all of
// them on a standard queue, one per idle group on a FIFO queue. Caller
// holds mu.
func (s *Source) readyLocked() int {
	if !s.fifo {
		return s.bufMsgs
	}
	n := 0
	seen := map[string]bool{}
	for _, d := range s.buf {
		if d.state == stBuffered && s.groupOut[d.group] == nil && !seen[d.group] {
			seen[d.group] = true
			n++
		}
	}
	return n
}

// addLocked buffers a received message. A message this Source still holds
// (its visibility lapsed and SQS gave it back, or the broker duplicated it)
// is not buffered again: the new receipt handle replaces the old. Caller
// holds mu.
func (s *Source) addLocked(m *types.Message, now time.Time) {
	s.stats.Received++
	id := deref(m.MessageId)
	if d := s.held[id]; d != nil {
		d.receipt = deref(m.ReceiptHandle)
		d.visibleAt = now.Add(s.visibility)
		d.timeout = s.visibility
		d.noExtend = false
		s.stats.Duplicates++
		return
	}
	d := &delivery{
		src:        s,
		id:         id,
		receipt:    deref(m.ReceiptHandle),
		state:      stBuffered,
		receivedAt: now,
		visibleAt:  now.Add(s.visibility),
		timeout:    s.visibility,
	}
	d.msg = sources.Message{
		ID:         id,
		Body:       []byte(deref(m.Body)),
		Attributes: fromSQSAttributes(m.MessageAttributes),
		Handle:     d,
	}
	sys := m.Attributes
	if v, err := strconv.Atoi(sys[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil {
		d.msg.DeliveryAttempt = v
	}
	if v, err := strconv.ParseInt(sys[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		d.msg.PublishTime = time.UnixMilli(v)
	}
	d.group = sys[string(types.MessageSystemAttributeNameMessageGroupId)]
	d.msg.OrderingKey = d.group
	d.size = d.msg.Size()
	s.held[id] = d
	s.buf = append(s.buf, d)
	s.bufMsgs++
	s.bufBytes += d.size
	if s.avgSize == 0 {
		s.avgSize = float64(d.size)
	} else {
		s.avgSize += (float64(d.size) - s.avgSize) / 16
	}
}
