package wiring

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/sagemaker"
)

// sageMakerClient maps models[].sagemaker onto the adapter. creds is the
// AWS chain's config, loaded once for every SageMaker model by Clients;
// nil loads it here (NewClient, for one model).
func sageMakerClient(m config.Model, spec endpoint.Spec, creds *aws.Config) (endpoint.Client, error) {
	if creds == nil {
		cfg, err := loadAWSConfig(context.Background())
		if err != nil {
			return nil, fmt.Errorf("models: %s: %w", m.Name, err)
		}
		creds = &cfg
	}
	s := m.SageMaker
	region := s.Region
	if region == "" {
		region = creds.Region
	}
	if region == "" && m.URL == "" {
		return nil, fmt.Errorf("models: %s: sagemaker.region: no AWS region: set it, AWS_REGION or a profile's region", m.Name)
	}
	return sagemaker.New(spec, sagemaker.Options{
		Region:                  region,
		Credentials:             creds.Credentials,
		Endpoint:                s.Endpoint,
		TargetVariant:           s.TargetVariant,
		TargetModel:             s.TargetModel,
		InferenceComponent:      s.InferenceComponent,
		TargetContainerHostname: s.TargetContainerHostname,
		CustomAttributes:        s.CustomAttributes,
		Request:                 sagemaker.Request(s.Request),
		Response:                sagemaker.Response(s.Response),
		Parameters:              s.Parameters,
		K:                       s.K,
		LabelPrefix:             s.LabelPrefix,
		LabelMap:                s.LabelMap,
		MaxPayloadBytes:         s.MaxPayloadBytes,
	})
}

// awsConfig loads the AWS default chain once, if any model is on
// SageMaker: IRSA's web identity on EKS, the environment, shared config
// and credentials files, SSO, container and instance roles. Credentials
// are fetched on the first request and refreshed before they expire, and
// every SageMaker model shares them. A malformed profile fails here, at
// start-up; a missing region fails when the model's client is built.
func awsConfig(ctx context.Context, cfg *config.Config) (*aws.Config, error) {
	for i := range cfg.Models {
		if cfg.Models[i].Protocol != ProtocolSageMaker {
			continue
		}
		c, err := loadAWSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("models[%d]: %w", i, err)
		}
		return &c, nil
	}
	return nil, nil
}

func loadAWSConfig(ctx context.Context) (aws.Config, error) {
	// The credential provider outlives start-up: it refreshes for as long
	// as the worker runs, so it must not hold a context start-up cancels.
	c, err := awsconfig.LoadDefaultConfig(context.WithoutCancel(ctx))
	if err != nil {
		return aws.Config{}, fmt.Errorf("sagemaker: loading the AWS config (environment, profile, web identity): %w", err)
	}
	return c, nil
}
