// Package memsource is a fixture for architecture_test.go.
package memsource

import (
	_ "github.com/chorusml/chorus/sinks"
	_ "github.com/chorusml/chorus/sources"
	_ "github.com/chorusml/chorus/worker/config"
	_ "github.com/chorusml/chorus/worker/errkind"
)
