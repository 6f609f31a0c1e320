package backfill

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewRunID returns a fresh run id: bf-<UTC time>-<random hex>.
func NewRunID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "bf-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
