// Package config is a fixture for architecture_test.go.
package config
