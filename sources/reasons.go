package sources

import "github.com/chorusml/chorus/worker/errkind"

// Reasons (worker/errkind) every driver gives the same failures, so that
// the worker's metrics and dead letters name them alike whichever broker
// is behind the source. Their values are stable: dashboards count them.
const (
	// ReasonBadConfig: the driver's options cannot work (a required field
	// missing, a value out of range).
	ReasonBadConfig errkind.Reason = "bad_config"
	// ReasonBadRequest: a call's arguments are wrong (Receive's max <= 0).
	ReasonBadRequest errkind.Reason = "bad_request"
	// ReasonSourceClosed: the call came after Close; the error wraps
	// ErrClosed.
	ReasonSourceClosed errkind.Reason = "source_closed"
	// ReasonForeignMessage: Ack or Nack was given a message the source did
	// not hand out.
	ReasonForeignMessage errkind.Reason = "foreign_message"
	// ReasonMessageTooLarge: a message is over the broker's size limit.
	ReasonMessageTooLarge errkind.Reason = "message_too_large"
)

// Flow-control defaults the drivers share, used where a FlowControl field
// is zero. A driver whose broker has its own documented default (Pub/Sub's
// byte bound) keeps that one.
const (
	DefaultMaxOutstandingMessages = 1000
	DefaultMaxOutstandingBytes    = 100 << 20
)
