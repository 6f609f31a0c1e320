package config

import (
	"strings"
	"testing"
)

// teiYAML is baseYAML with block as the acme-topics model's tei block.
func teiYAML(block string) string {
	return strings.Replace(baseYAML, "    tenants: [acme]\n", "    tenants: [acme]\n"+block, 1)
}

func TestTEIBlock(t *testing.T) {
	tests := []struct {
		name      string
		block     string
		truncate  bool
		direction string
		readInfo  bool
	}{
		{"defaults", "", true, "right", true},
		{"empty block", "    tei: {}\n", true, "right", true},
		{"all set", "    tei:\n      truncate: false\n      truncation_direction: left\n      read_info: false\n", false, "left", false},
		{"explicit true", "    tei: {truncate: true, read_info: true, truncation_direction: right}\n", true, "right", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, teiYAML(tc.block), nil)
			m := c.Models[2]
			if m.Name != "acme-topics" {
				t.Fatalf("model 2 is %q", m.Name)
			}
			b := m.TEI
			if b.Truncate == nil || *b.Truncate != tc.truncate {
				t.Errorf("truncate = %v, want %v", b.Truncate, tc.truncate)
			}
			if b.ReadInfo == nil || *b.ReadInfo != tc.readInfo {
				t.Errorf("read_info = %v, want %v", b.ReadInfo, tc.readInfo)
			}
			if b.TruncationDirection != tc.direction {
				t.Errorf("truncation_direction = %q, want %q", b.TruncationDirection, tc.direction)
			}
		})
	}
}

func TestTEIBlockErrors(t *testing.T) {
	tests := []struct {
		name, yaml, path, msg string
	}{
		{
			name: "unknown direction",
			yaml: teiYAML("    tei: {truncation_direction: middle}\n"),
			path: "models[2].tei.truncation_direction",
			msg:  `got "middle", expected one of right, left`,
		},
		{
			name: "unknown field",
			yaml: teiYAML("    tei: {truncation: true}\n"),
			path: "models[2].tei",
			msg:  `unknown field "truncation"`,
		},
		{
			name: "block on another protocol",
			yaml: strings.Replace(baseYAML, "    labels: [pricing, billing]\n", "    labels: [pricing, billing]\n    tei: {read_info: false}\n", 1),
			path: "models[1].tei",
			msg:  "this block is for protocol tei",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), nil)
			wantProblem(t, err, tc.path, tc.msg)
		})
	}
}
