package awssqs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// NewClient returns an SQS client with the standard AWS credential chain
// (environment, shared config and credentials files, SSO, web identity,
// container and instance roles). region overrides AWS_REGION and the
// shared config when set; endpoint overrides the service endpoint (moto,
// LocalStack, a VPC endpoint) when set, and AWS_ENDPOINT_URL_SQS applies
// otherwise.
//
// The SDK's own retries are off: the worker retries, once, with the
// errkind classification of every error this package returns.
func NewClient(ctx context.Context, region, endpoint string) (*sqs.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, errkind.New(errkind.Permanent, sources.ReasonBadConfig, fmt.Errorf("awssqs: loading AWS config: %w", err))
	}
	if cfg.Region == "" {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig,
			"awssqs: no AWS region: set source.sqs.region, AWS_REGION or a profile's region")
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}
