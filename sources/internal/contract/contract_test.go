package contract

import (
	"errors"
	"slices"
	"testing"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

func TestEach(t *testing.T) {
	// A message's ID says what it is to the source.
	status := map[string]Status{"live": Live, "live2": Live, "stale": Stale, "foreign": Foreign}
	current := func(m *sources.Message) (string, Status) {
		if st := status[m.ID]; st == Live {
			return m.ID, Live
		}
		return "", status[m.ID]
	}
	msgs := func(ids ...string) []*sources.Message {
		var out []*sources.Message
		for _, id := range ids {
			out = append(out, &sources.Message{ID: id})
		}
		return out
	}
	tests := []struct {
		name        string
		msgs        []*sources.Message
		wantSettled []string
		wantForeign int
	}{
		{"none", nil, nil, 0},
		{"live in order", msgs("live2", "live"), []string{"live2", "live"}, 0},
		{"stale is ignored", msgs("stale", "live", "stale"), []string{"live"}, 0},
		{"foreign is counted, the rest settled", msgs("foreign", "live", "foreign", "stale"), []string{"live"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var settled []string
			foreign := Each(tt.msgs, current, func(d string) { settled = append(settled, d) })
			if !slices.Equal(settled, tt.wantSettled) || foreign != tt.wantForeign {
				t.Errorf("settled %v, %d foreign; want %v, %d", settled, foreign, tt.wantSettled, tt.wantForeign)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantKind   errkind.Kind
		wantReason errkind.Reason
		wantMsg    string
		wantClosed bool
	}{
		{"foreign", ErrForeign("memsource", "ack", 2, "from this topic"), errkind.InvalidInput, sources.ReasonForeignMessage,
			"foreign_message: memsource: ack: 2 message(s) not received from this topic", false},
		{"closed", ErrClosed("filesource", "nack"), errkind.Permanent, sources.ReasonSourceClosed,
			"source_closed: filesource: nack: source closed", true},
		{"bad max", CheckMax("awssqs", 0), errkind.InvalidInput, sources.ReasonBadRequest,
			"bad_request: awssqs: receive: max 0, want > 0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("nil error")
			}
			if k, r := errkind.KindOf(tt.err), errkind.ReasonOf(tt.err); k != tt.wantKind || r != tt.wantReason {
				t.Errorf("kind %v, reason %s; want %v, %s", k, r, tt.wantKind, tt.wantReason)
			}
			if got := tt.err.Error(); got != tt.wantMsg {
				t.Errorf("message %q, want %q", got, tt.wantMsg)
			}
			if got := errors.Is(tt.err, sources.ErrClosed); got != tt.wantClosed {
				t.Errorf("errors.Is(ErrClosed) = %v, want %v", got, tt.wantClosed)
			}
		})
	}
}

func TestNoError(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"no foreign messages", ErrForeign("memsource", "ack", 0, "from this topic")},
		{"valid max", CheckMax("memsource", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err != nil {
				t.Errorf("got %v, want nil", tt.err)
			}
		})
	}
}
