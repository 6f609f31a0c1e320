package vertex

import (
	"encoding/json"
	"testing"
)

var encodeCases = []string{
	"", "plain", `She said "fine" <b>&`, "back\\slash", "tab\tnew\nline\rcr",
	"\x00\x01\x1f\x7f", "ünïcödé 日本語 🎉", "bad \xff utf8 \xc3", "\u2028\u2029",
}

// appendString must write what encoding/json would read back as the text
// json.Marshal encodes.
func TestAppendString(t *testing.T) {
	for _, s := range encodeCases {
		checkAppendString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range encodeCases {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}

func checkAppendString(t *testing.T, s string) {
	got := appendString(nil, s)
	if !json.Valid(got) {
		t.Fatalf("appendString(%q) = %s: not JSON", s, got)
	}
	want, _ := json.Marshal(s)
	var a, b string
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("appendString(%q) reads back as %q, json.Marshal's as %q", s, a, b)
	}
}
