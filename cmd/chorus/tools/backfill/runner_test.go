package backfill

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/retry"
)

// scriptedPublisher answers call n with confirm[n] (how many of the
// messages it confirms) and errs[n]; past the script it confirms all.
type scriptedPublisher struct {
	confirm []int
	errs    []error
	sizes   []int // messages per call
}

func (p *scriptedPublisher) Publish(_ context.Context, msgs []sources.OutMessage) ([]string, error) {
	n := len(p.sizes)
	p.sizes = append(p.sizes, len(msgs))
	ids := make([]string, len(msgs))
	ok, err := len(msgs), error(nil)
	if n < len(p.errs) {
		ok, err = min(p.confirm[n], len(msgs)), p.errs[n]
	}
	for i := range ok {
		ids[i] = "id"
	}
	return ids, err
}

func (p *scriptedPublisher) MaxMessageBytes() int        { return 1 << 20 }
func (p *scriptedPublisher) Close(context.Context) error { return nil }

func TestPublishGroupRetries(t *testing.T) {
	transient := errkind.New(errkind.Retryable, "unavailable", errors.New("503"))
	denied := errkind.New(errkind.Permanent, "denied", errors.New("403"))
	quick := retry.Policy{MaxAttempts: 6, Initial: time.Microsecond, Max: time.Microsecond}
	tests := []struct {
		name      string
		confirm   []int
		errs      []error
		wantSizes []int
		wantFail  []bool // per unit
	}{
		{"first try", nil, nil, []int{3}, []bool{false, false, false}},
		{"a retry confirms all", []int{0}, []error{transient}, []int{3, 3}, []bool{false, false, false}},
		{"only the unconfirmed are retried", []int{1, 1}, []error{transient, transient}, []int{3, 2, 1}, []bool{false, false, false}},
		{"permanent is not retried", []int{1}, []error{denied}, []int{3}, []bool{false, true, true}},
		{"attempts bounded", []int{0, 0, 0, 0, 0, 0, 0}, []error{transient, transient, transient, transient, transient, transient, transient},
			[]int{3, 3, 3, 3, 3, 3}, []bool{true, true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &scriptedPublisher{confirm: tc.confirm, errs: tc.errs}
			group := []unit{{body: []byte("a")}, {body: []byte("b")}, {body: []byte("c")}}
			errs := publishGroup(context.Background(), pub, quick, nil, group)
			if len(pub.sizes) != len(tc.wantSizes) {
				t.Fatalf("calls carried %v messages, want %v", pub.sizes, tc.wantSizes)
			}
			for i := range pub.sizes {
				if pub.sizes[i] != tc.wantSizes[i] {
					t.Fatalf("calls carried %v messages, want %v", pub.sizes, tc.wantSizes)
				}
			}
			for i, e := range errs {
				if (e != nil) != tc.wantFail[i] {
					t.Errorf("unit %d: err %v, want failed %v", i, e, tc.wantFail[i])
				}
			}
		})
	}
}
