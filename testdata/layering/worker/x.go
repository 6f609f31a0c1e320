// Package worker is a fixture for architecture_test.go.
package worker

import (
	_ "github.com/aws/aws-sdk-go-v2/service/sqs"
	_ "github.com/chorusml/chorus/sinks"
	_ "github.com/chorusml/chorus/sources"
	_ "github.com/chorusml/chorus/sources/memsource"
	_ "github.com/chorusml/chorus/worker/retry"
	_ "github.com/chorusml/chorus/worker/testenv"
)
