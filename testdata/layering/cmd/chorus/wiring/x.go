// Package wiring is a fixture for architecture_test.go.
package wiring

import (
	_ "github.com/chorusml/chorus/cmd/chorus/tools/dlq"
	_ "github.com/chorusml/chorus/sources/memsource"
)
