package config

import (
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/retry"
)

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name string
		r    Retry
		want retry.Policy
	}{
		{"zero", Retry{}, retry.Policy{}},
		{"every field", Retry{MaxAttempts: 4, Backoff: Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}, MaxElapsed: 30 * time.Second, MaxRetryAfter: 10 * time.Second},
			retry.Policy{MaxAttempts: 4, Initial: 100 * time.Millisecond, Max: 2 * time.Second, MaxElapsed: 30 * time.Second, MaxRetryAfter: 10 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Policy(); got != tc.want {
				t.Errorf("Policy() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
