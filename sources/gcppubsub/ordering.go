package gcppubsub

import "time"

// blockTTL bounds how long an ordering key waits for a nacked message to
// come back. A redelivery normally takes milliseconds, but one pushed into
// a closing stream waits out the stream's ack deadline (at most 10 min);
// past this the wait is forgotten rather than kept forever.
const blockTTL = 10 * time.Minute

// keyQueue is the state of one ordering key (see the package doc).
type keyQueue struct {
	// active: one of the key's messages is queued for Receive, out or
	// held; waiting are the later ones held back behind it.
	active  bool
	waiting []*delivery
	// blockedOn is the ID of the key's message last nacked while the key
	// waits for its redelivery; bounced are the IDs nacked meanwhile.
	blockedOn string
	blockedAt time.Time
	bounced   map[string]bool
}

// blockRef is a key that started waiting for a nacked message at a time,
// so that waits that never end can be forgotten.
type blockRef struct {
	key, id string
	at      time.Time
}

// admit places d, which has an ordering key, behind the key's active
// message or at the head of its key. It returns false when d must be
// nacked at once instead: an earlier message of its key was nacked and has
// not come back. Caller holds mu.
func (s *Source) admit(d *delivery) (ok, ready bool) {
	k := d.msg.OrderingKey
	q := s.keys[k]
	if q == nil {
		q = &keyQueue{}
		s.keys[k] = q
	}
	if q.blockedOn != "" {
		if d.msg.ID != q.blockedOn && !q.bounced[d.msg.ID] {
			q.bounced[d.msg.ID] = true
			return false, false
		}
		// The nacked message is back, or a message bounced before came
		// back first, so Pub/Sub has no earlier one left to send.
		q.blockedOn, q.bounced = "", nil
	}
	if q.active {
		q.waiting = append(q.waiting, d)
		return true, false
	}
	q.active, d.active = true, true
	return true, true
}

// enqueue makes d available to Receive, holds it back behind its ordering
// key, or reports false if it must be nacked at once. Caller holds mu.
func (s *Source) enqueue(d *delivery) bool {
	if d.msg.OrderingKey != "" {
		ok, ready := s.admit(d)
		if !ok {
			return false
		}
		if !ready {
			s.buffered++
			return true
		}
	}
	s.buffered++
	s.ready = append(s.ready, d)
	s.wake.Broadcast()
	return true
}

// keyDone is called when d is finished: acked, nacked (nacked is true once
// the nack is sent) or abandoned. If d was its key's active message, the
// key's next message goes to Receive; after a nack instead, the key waits
// for d to come back, and the messages held back behind it are returned,
// taken off the queue, to be nacked by the caller (nackBounced). Caller
// holds mu.
func (s *Source) keyDone(d *delivery, nacked bool) []*delivery {
	if !d.active {
		return nil
	}
	d.active = false
	k := d.msg.OrderingKey
	q := s.keys[k]
	q.active = false
	if nacked {
		now := time.Now()
		s.forgetOldBlocks(now)
		q.blockedOn, q.blockedAt, q.bounced = d.msg.ID, now, map[string]bool{}
		s.blocks = append(s.blocks, blockRef{key: k, id: d.msg.ID, at: now})
		var bounced []*delivery
		for _, w := range q.waiting {
			if w.state == stateQueued {
				w.state = stateDone
				s.buffered--
				q.bounced[w.msg.ID] = true
				bounced = append(bounced, w)
			}
		}
		q.waiting = nil
		return bounced
	}
	for len(q.waiting) > 0 {
		next := q.waiting[0]
		q.waiting[0] = nil
		q.waiting = q.waiting[1:]
		if next.state == stateQueued {
			q.active, next.active = true, true
			s.ready = append(s.ready, next)
			s.wake.Broadcast()
			return nil
		}
	}
	if q.blockedOn == "" {
		delete(s.keys, k)
	}
	return nil
}

// forgetOldBlocks drops waits older than blockTTL whose key holds nothing
// else. Caller holds mu.
func (s *Source) forgetOldBlocks(now time.Time) {
	i := 0
	for ; i < len(s.blocks) && now.Sub(s.blocks[i].at) > blockTTL; i++ {
		b := s.blocks[i]
		if q := s.keys[b.key]; q != nil && q.blockedOn == b.id && q.blockedAt.Equal(b.at) && !q.active && len(q.waiting) == 0 {
			delete(s.keys, b.key)
		}
	}
	clear(s.blocks[:i])
	s.blocks = s.blocks[i:]
}

// nackBounced nacks what keyDone took off a key's queue and releases the
// messages' callbacks.
func (s *Source) nackBounced(ds []*delivery) {
	for _, d := range ds {
		s.orderNacks.Add(1)
		d.m.Nack()
		close(d.done)
	}
}
