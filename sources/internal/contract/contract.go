// Package contract holds the rules of the sources.Source contract that
// every driver applies alike. A message given back to Ack or Nack is live
// (its delivery is the current one: settle it), stale (settled already,
// or superseded by a redelivery: ignored) or foreign (never handed out by
// this source: an error). How a driver tells them apart is its own
// (attempt counts, delivery states, receipt handles); sorting a batch by
// it is here, with the errors the contract asks every driver for: foreign
// messages, a call after Close, a Receive of max <= 0.
package contract

import (
	"fmt"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// Status is what a message given back to Ack or Nack is to its source.
type Status uint8

const (
	Live    Status = iota // the current delivery: settle it
	Stale                 // settled or superseded: ignore it
	Foreign               // not from this source: count it
)

// Each passes the live deliveries among msgs to settle, in order, and
// returns how many messages were foreign. current says what a message is
// and, when it is live, its delivery. Drivers call it under their lock.
func Each[D any](msgs []*sources.Message, current func(*sources.Message) (D, Status), settle func(D)) (foreign int) {
	for _, m := range msgs {
		switch d, st := current(m); st {
		case Live:
			settle(d)
		case Foreign:
			foreign++
		}
	}
	return foreign
}

// ErrForeign is driver's error for n foreign messages given to op, nil
// when n is 0. origin says what they were not received from: "from this
// source", or "from this topic" where messages of a sibling source are
// only stale.
func ErrForeign(driver, op string, n int, origin string) error {
	if n == 0 {
		return nil
	}
	return errkind.Errorf(errkind.InvalidInput, sources.ReasonForeignMessage, "%s: %s: %d message(s) not received %s", driver, op, n, origin)
}

// ErrClosed is driver's error for op called after Close; it wraps
// sources.ErrClosed.
func ErrClosed(driver, op string) error {
	return errkind.New(errkind.Permanent, sources.ReasonSourceClosed, fmt.Errorf("%s: %s: %w", driver, op, sources.ErrClosed))
}

// CheckMax is driver's error for a Receive asking for max <= 0 messages,
// nil for a valid max.
func CheckMax(driver string, max int) error {
	if max > 0 {
		return nil
	}
	return errkind.Errorf(errkind.InvalidInput, sources.ReasonBadRequest, "%s: receive: max %d, want > 0", driver, max)
}
