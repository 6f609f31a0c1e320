package dlq

import "github.com/chorusml/chorus/worker/errkind"

// Reasons of the errors the dlq commands make themselves.
const (
	// ReasonBadConfig: the flags or config do not name a usable source.
	ReasonBadConfig errkind.Reason = "bad_config"
	// ReasonReplayFailed: some selected dead letters were not republished.
	ReasonReplayFailed errkind.Reason = "replay_failed"
)
