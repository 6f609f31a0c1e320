// Package chorus holds the files the binary embeds: reference-model training
// data and the demo's feedback, so that `chorus demo` needs nothing on disk.
package chorus

import "embed"

// Data is testdata/models (training files) and testdata/demo (demo input).
//
//go:embed testdata/models testdata/demo
var Data embed.FS
