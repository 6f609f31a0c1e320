package bench

import (
	"testing"
)

// Every decode case is a body its adapter accepts.
func TestDecodeCasesAreAccepted(t *testing.T) {
	texts := make([]string, decodeBatch)
	for i := range texts {
		texts[i] = "the app is slow"
	}
	for _, c := range decodeCases() {
		if _, err := c.accepted(t.Context(), texts); err != nil {
			t.Error(err)
		}
	}
}
