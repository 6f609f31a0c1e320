// Package retry is a fixture for architecture_test.go.
package retry

import (
	_ "github.com/chorusml/chorus/worker/config"
	_ "github.com/chorusml/chorus/worker/errkind"
)
