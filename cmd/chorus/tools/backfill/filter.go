package backfill

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chorusml/chorus/worker/job"
)

// Filter selects which input jobs a backfill publishes. The zero value
// passes everything.
type Filter struct {
	// Tenants, when not empty, is the set of tenants to keep.
	Tenants []string
	// Since keeps jobs created at or after it; Until keeps jobs created
	// before it. A job without created_at fails a date filter.
	Since, Until time.Time
}

// Match reports whether j passes the filter.
func (f Filter) Match(j *job.Job) bool {
	if len(f.Tenants) > 0 && !slices.Contains(f.Tenants, j.Tenant) {
		return false
	}
	if f.Since.IsZero() && f.Until.IsZero() {
		return true
	}
	if j.CreatedAt == nil {
		return false
	}
	if !f.Since.IsZero() && j.CreatedAt.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !j.CreatedAt.Before(f.Until) {
		return false
	}
	return true
}

// String is the filter's canonical form, part of the input identity.
func (f Filter) String() string {
	t := slices.Clone(f.Tenants)
	slices.Sort(t)
	var b strings.Builder
	fmt.Fprintf(&b, "tenants=%s", strings.Join(t, ","))
	if !f.Since.IsZero() {
		fmt.Fprintf(&b, " since=%s", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		fmt.Fprintf(&b, " until=%s", f.Until.UTC().Format(time.RFC3339Nano))
	}
	return b.String()
}

// ParseTenants splits repeated and comma-separated --tenant values.
func ParseTenants(vals []string) []string {
	var out []string
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// ParseTime parses RFC 3339 or a date (YYYY-MM-DD, midnight UTC);
// dateOnly says which.
func ParseTime(s string) (t time.Time, dateOnly bool, err error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), false, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true, nil
	}
	return time.Time{}, false, fmt.Errorf("%q is neither RFC 3339 (2026-11-02T10:14:00Z) nor a date (2026-11-02)", s)
}

// ParseRange parses --since and --until. A date-only --until includes
// that whole day (up to the next midnight UTC); an RFC 3339 one is
// exclusive.
func ParseRange(since, until string) (time.Time, time.Time, error) {
	var s, u time.Time
	if since != "" {
		t, _, err := ParseTime(since)
		if err != nil {
			return s, u, fmt.Errorf("--since: %w", err)
		}
		s = t
	}
	if until != "" {
		t, dateOnly, err := ParseTime(until)
		if err != nil {
			return s, u, fmt.Errorf("--until: %w", err)
		}
		if dateOnly {
			t = t.AddDate(0, 0, 1)
		}
		u = t
	}
	if !s.IsZero() && !u.IsZero() && !s.Before(u) {
		return s, u, fmt.Errorf("--since %s is not before --until %s", since, until)
	}
	return s, u, nil
}
