// Package sinks is a fixture for architecture_test.go.
package sinks

import (
	_ "github.com/chorusml/chorus/worker/errkind"
)
