// Package atomicfile is a fixture for architecture_test.go.
package atomicfile
