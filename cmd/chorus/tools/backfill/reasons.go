package backfill

import "github.com/chorusml/chorus/worker/errkind"

// Reasons of the errors backfill makes itself.
const (
	// ReasonBadConfig: the options cannot work (limits, a missing publisher).
	ReasonBadConfig errkind.Reason = "bad_config"
	// ReasonBadInput: the input file cannot be opened or read.
	ReasonBadInput errkind.Reason = "bad_input"
	// ReasonBadJob: one job of the input is not a valid job.
	ReasonBadJob errkind.Reason = "bad_job"
	// ReasonJobTooLarge: a job is larger than a message may be.
	ReasonJobTooLarge errkind.Reason = "job_too_large"
	// ReasonBadRunID: the run id is not a usable name.
	ReasonBadRunID errkind.Reason = "bad_run_id"
	// ReasonNoCheckpoint: resuming a run that has no checkpoint.
	ReasonNoCheckpoint errkind.Reason = "no_checkpoint"
	// ReasonCheckpoint: the checkpoint cannot be read or written, or is
	// another run's.
	ReasonCheckpoint errkind.Reason = "checkpoint"
	// ReasonInputChanged: the input is not the one the checkpoint was
	// taken of.
	ReasonInputChanged errkind.Reason = "input_changed"
	// ReasonInterrupted: the run was stopped before the end.
	ReasonInterrupted errkind.Reason = "interrupted"
	// ReasonBadRow: a row read from the warehouse cannot make a job.
	ReasonBadRow errkind.Reason = "bad_row"
	// ReasonFailed: some jobs could not be published.
	ReasonFailed errkind.Reason = "failed"
)
