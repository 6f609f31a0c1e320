// Package bench is a fixture for architecture_test.go.
package bench

import (
	_ "github.com/chorusml/chorus/worker/testenv"
)
