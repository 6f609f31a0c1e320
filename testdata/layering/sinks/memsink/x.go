// Package memsink is a fixture for architecture_test.go.
package memsink

import (
	_ "github.com/chorusml/chorus/sinks"
	_ "github.com/chorusml/chorus/sources"
	_ "github.com/chorusml/chorus/worker/atomicfile"
)
