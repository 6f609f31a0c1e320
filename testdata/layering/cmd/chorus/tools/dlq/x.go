// Package dlq is a fixture for architecture_test.go.
package dlq

import (
	_ "github.com/aws/aws-sdk-go-v2/service/sqs"
)
