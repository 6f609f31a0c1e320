// Package chorus holds the files the binary embeds: reference-model training
// data and the demo's feedback, so that `chorus demo` needs nothing on disk.
package chorus

import "embed"

// Data is testdata/models (training files), testdata/demo (demo input)
// and deploy/examples/demo.yaml (the demo config).
//
//go:embed testdata/models testdata/demo deploy/examples/demo.yaml
var Data embed.FS
