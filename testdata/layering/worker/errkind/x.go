// Package errkind is a fixture for architecture_test.go.
package errkind
