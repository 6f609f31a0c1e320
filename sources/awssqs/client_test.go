package awssqs

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/chorusml/chorus/worker/errkind"
)

func TestNewClient(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	tests := []struct {
		name             string
		env              map[string]string
		region, endpoint string
		wantRegion       string
		wantEndpoint     string
		wantErr          bool
	}{
		{"explicit region and endpoint", nil, "eu-west-1", "http://127.0.0.1:1", "eu-west-1", "http://127.0.0.1:1", false},
		{"region from the environment", map[string]string{"AWS_REGION": "ap-south-1"}, "", "", "ap-south-1", "", false},
		{"endpoint from AWS_ENDPOINT_URL_SQS", map[string]string{"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:2"}, "us-east-1", "", "us-east-1", "http://127.0.0.1:2", false},
		{"no region anywhere", nil, "", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A clean chain: no shared files, no region, static keys.
			for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"} {
				t.Setenv(k, "")
			}
			t.Setenv("AWS_CONFIG_FILE", none)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
			t.Setenv("AWS_ACCESS_KEY_ID", "k")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := NewClient(ctx, tt.region, tt.endpoint)
			if tt.wantErr {
				if errkind.KindOf(err) != errkind.Permanent {
					t.Fatalf("NewClient = %v, want a permanent error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := c.Options()
			if o.Region != tt.wantRegion {
				t.Errorf("region = %q, want %q", o.Region, tt.wantRegion)
			}
			if got := aws.ToString(o.BaseEndpoint); got != tt.wantEndpoint {
				t.Errorf("endpoint = %q, want %q", got, tt.wantEndpoint)
			}
			if got := o.Retryer.MaxAttempts(); got != 1 {
				t.Errorf("SDK retries %d attempts, want 1: the worker retries", got)
			}
		})
	}
}
