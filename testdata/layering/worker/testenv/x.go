// Package testenv is a fixture for architecture_test.go.
package testenv
