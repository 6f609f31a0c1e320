package backfill

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/chorusml/chorus/worker/atomicfile"
	"github.com/chorusml/chorus/worker/errkind"
)

// DefaultCheckpointDir is --checkpoint-dir's default.
const DefaultCheckpointDir = "chorus-backfill"

// Identity says what a run reads and how it filters: a resume must match
// it exactly, or the checkpointed position would point into other data.
type Identity struct {
	// Source is KindJSONL, KindPostgres or KindBigQuery.
	Source string `json:"source"`
	// Input is the SHA-256 of the file's content or of the query text.
	Input        string `json:"input"`
	Filters      string `json:"filters"`
	StaleVersion string `json:"stale_version,omitempty"`
	Pipeline     string `json:"pipeline,omitempty"`
}

// Mismatch describes how other differs from id, or "" when they match.
func (id Identity) Mismatch(other Identity) string {
	var diffs []string
	check := func(what, a, b string) {
		if a != b {
			diffs = append(diffs, fmt.Sprintf("%s %q, now %q", what, a, b))
		}
	}
	check("source", id.Source, other.Source)
	check("input hash", id.Input, other.Input)
	check("filters", id.Filters, other.Filters)
	check("stale version", id.StaleVersion, other.StaleVersion)
	check("pipeline", id.Pipeline, other.Pipeline)
	return strings.Join(diffs, "; ")
}

// Checkpoint is a run's saved progress.
type Checkpoint struct {
	Version  int      `json:"version"`
	RunID    string   `json:"run_id"`
	Identity Identity `json:"identity"`
	// Confirmed is the number of leading input records whose messages are
	// all confirmed published (or that needed none).
	Confirmed int64 `json:"confirmed"`
	// Counts are the outcomes of those records.
	Counts Counts `json:"counts"`
	// Total is the input's record count, -1 when unknown.
	Total     int64     `json:"total"`
	Done      bool      `json:"done"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const checkpointVersion = 1

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidRunID checks that a run id is safe as a file name and attribute.
func ValidRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return errkind.Errorf(errkind.Permanent, ReasonBadRunID, "backfill: run id %q: use 1 to 128 letters, digits, '.', '_' or '-'", id)
	}
	return nil
}

// CheckpointPath is where a run's checkpoint lives.
func CheckpointPath(dir, runID string) string {
	return filepath.Join(dir, runID+".json")
}

// ErrNoCheckpoint is wrapped by LoadCheckpoint when a run has none.
var ErrNoCheckpoint = errors.New("no checkpoint for this run id")

// LoadCheckpoint reads a run's checkpoint.
func LoadCheckpoint(dir, runID string) (*Checkpoint, error) {
	if err := ValidRunID(runID); err != nil {
		return nil, err
	}
	path := CheckpointPath(dir, runID)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errkind.New(errkind.Permanent, ReasonNoCheckpoint, fmt.Errorf("backfill: %s: %w", path, ErrNoCheckpoint))
	}
	if err != nil {
		return nil, errkind.New(errkind.Permanent, ReasonCheckpoint, fmt.Errorf("backfill: %w", err))
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, errkind.New(errkind.Permanent, ReasonCheckpoint, fmt.Errorf("backfill: checkpoint %s: %w", path, err))
	}
	if cp.Version != checkpointVersion || cp.RunID != runID {
		return nil, errkind.Errorf(errkind.Permanent, ReasonCheckpoint, "backfill: checkpoint %s: version %d, run id %q: not a checkpoint of run %q", path, cp.Version, cp.RunID, runID)
	}
	return &cp, nil
}

// Save writes the checkpoint atomically.
func (cp *Checkpoint) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errkind.New(errkind.Permanent, ReasonCheckpoint, fmt.Errorf("backfill: checkpoint dir: %w", err))
	}
	cp.Version = checkpointVersion
	err := atomicfile.Write(CheckpointPath(dir, cp.RunID), 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(cp)
	})
	if err != nil {
		return errkind.New(errkind.Retryable, ReasonCheckpoint, fmt.Errorf("backfill: writing checkpoint: %w", err))
	}
	return nil
}

// CheckResume refuses a resume whose input or filters differ from the
// checkpoint's.
func (cp *Checkpoint) CheckResume(id Identity) error {
	if d := cp.Identity.Mismatch(id); d != "" {
		return errkind.Errorf(errkind.Permanent, ReasonInputChanged,
			"backfill: cannot resume run %s: its input or filters differ from the checkpoint's (checkpoint %s); start a new run instead", cp.RunID, d)
	}
	return nil
}
