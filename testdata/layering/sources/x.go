// Package sources is a fixture for architecture_test.go.
package sources
