package awssqs

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chorusml/chorus/sources"
)

func TestDeadLetterAttributes(t *testing.T) {
	reasons := map[string]string{
		sources.AttrErrorClass:      "malformed_json",
		sources.AttrError:           "invalid character",
		sources.AttrFailedAt:        "decode",
		sources.AttrSourceMessageID: "m-1",
		sources.AttrDeliveryAttempt: "2",
	}
	with := func(extra map[string]string) map[string]string {
		m := maps.Clone(reasons)
		maps.Copy(m, extra)
		return m
	}
	many := map[string]string{"tenant": "acme", "run_id": "r1", "pipeline": "v2"}
	for i := range 7 {
		many[fmt.Sprintf("a%d", i)] = fmt.Sprint(i)
	}
	tests := []struct {
		name     string
		in       map[string]string
		want     []string // attribute names kept as attributes
		inJSON   []string // names moved into AttrOriginalAttributes
		noDetail bool
	}{
		{"all fit", with(map[string]string{"tenant": "acme", "x": "1"}),
			[]string{"tenant", "x"}, nil, false},
		{"exactly ten", with(map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}),
			[]string{"a", "b", "c", "d", "e"}, nil, false},
		{"eleven: the rest as JSON", with(many),
			[]string{"tenant", "run_id", "pipeline", "a0"}, []string{"a1", "a2", "a3", "a4", "a5", "a6"}, false},
		{"empty detail left out", with(map[string]string{sources.AttrError: ""}), nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deadLetterAttributes(tt.in)
			if len(got) > MaxAttributes {
				t.Fatalf("%d attributes, SQS allows %d: %v", len(got), MaxAttributes, got)
			}
			for _, k := range reasonAttrs {
				if k == sources.AttrError && tt.noDetail {
					if _, ok := got[k]; ok {
						t.Errorf("empty %s kept: SQS rejects empty values", k)
					}
					continue
				}
				if got[k] != tt.in[k] {
					t.Errorf("%s = %q, want %q", k, got[k], tt.in[k])
				}
			}
			for _, k := range tt.want {
				if got[k] != tt.in[k] {
					t.Errorf("original %s = %q, want %q", k, got[k], tt.in[k])
				}
			}
			rest := got[AttrOriginalAttributes]
			if len(tt.inJSON) == 0 {
				if rest != "" {
					t.Errorf("%s = %s, want none", AttrOriginalAttributes, rest)
				}
				return
			}
			var m map[string]string
			if err := json.Unmarshal([]byte(rest), &m); err != nil {
				t.Fatalf("%s = %q: %v", AttrOriginalAttributes, rest, err)
			}
			for _, k := range tt.inJSON {
				if m[k] != tt.in[k] {
					t.Errorf("%s[%s] = %q, want %q", AttrOriginalAttributes, k, m[k], tt.in[k])
				}
				if _, ok := got[k]; ok {
					t.Errorf("%s both an attribute and in %s", k, AttrOriginalAttributes)
				}
			}
		})
	}
}

func TestTruncateDetail(t *testing.T) {
	long := strings.Repeat("é", 1000) // 2000 bytes
	got := deadLetterAttributes(map[string]string{sources.AttrError: long})[sources.AttrError]
	if len(got) > maxErrorDetail {
		t.Errorf("detail is %d bytes, want <= %d", len(got), maxErrorDetail)
	}
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("detail cut badly: %q", got[len(got)-10:])
	}
}

func TestSQSText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain ü ✓ \t\n", "plain ü ✓ \t\n"},
		{"nul\x00", "nul\uFFFD"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"bell\a", "bell\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := sqsText(tt.in); got != tt.want {
				t.Errorf("sqsText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
