package wiring

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/worker/config"
)

// awsEnv is an AWS default chain with static keys from the environment
// and no profile files, so that a test reads nothing of the machine's.
func awsEnv(t *testing.T, region string) {
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", region)
	t.Setenv("AWS_DEFAULT_REGION", "")
}

func sageMakerConfig(t *testing.T, block string) *config.Config {
	t.Helper()
	y := fmt.Sprintf(`
source: {type: memory}
sink: {type: file, file: {path: out.jsonl}}
models:
  - name: topics
    protocol: sagemaker
    labels: [billing, onboarding]
%s
pipelines:
  - name: default
    version: "1"
    topics: {models: [{model: topics}]}
tenants: [{name: "*", pipeline: default}]
`, block)
	c, err := config.Parse([]byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The worker's factory builds a signed BlazingText client from the
// README's config: the region from the block, credentials from the AWS
// chain, the endpoint name and JSON Lines on the wire.
func TestSageMakerClient(t *testing.T) {
	awsEnv(t, "us-east-1")
	type seen struct {
		path, auth, contentType, body string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		w.Header().Set("Content-Type", "application/jsonlines")
		w.Header().Set("X-Amzn-Invoked-Production-Variant", "AllTraffic")
		io.WriteString(w, "{\"prob\": [0.8, 0.2], \"label\": [\"__label__billing\", \"__label__onboarding\"]}\n")
	}))
	defer srv.Close()
	cfg := sageMakerConfig(t, `    url: `+srv.URL+`
    sagemaker:
      endpoint: blazingtext-topics
      region: eu-west-1
      request: jsonlines
      response: blazingtext
      k: 2
      label_prefix: __label__`)
	factory, err := Clients(cfg, func(string) string { return "" }, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	c, err := factory(cfg.Models[0])
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Predict(t.Context(), []string{"the invoice was wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]float64{{0.8, 0.2}}; !reflect.DeepEqual(res.Scores, want) || res.Version != "AllTraffic" {
		t.Errorf("result %v %q, want %v AllTraffic", res.Scores, res.Version, want)
	}
	s := <-got
	if s.path != "/endpoints/blazingtext-topics/invocations" {
		t.Errorf("path %q", s.path)
	}
	if !strings.Contains(s.auth, "Credential=AKIDEXAMPLE/") || !strings.Contains(s.auth, "/eu-west-1/sagemaker/aws4_request") {
		t.Errorf("Authorization %q is not SigV4 for sagemaker in eu-west-1 with the chain's key", s.auth)
	}
	if s.contentType != "application/jsonlines" || s.body != "{\"source\":\"the invoice was wrong\",\"k\":2}\n" {
		t.Errorf("Content-Type %q, body %q", s.contentType, s.body)
	}
}

func TestSageMakerClientRegion(t *testing.T) {
	awsEnv(t, "")
	cfg := sageMakerConfig(t, "")
	_, err := NewClient(cfg.Models[0], config.Access{}, nil)
	if err == nil || !strings.Contains(err.Error(), "sagemaker.region") {
		t.Errorf("no region anywhere: %v, want an error naming sagemaker.region", err)
	}
	// The chain's region serves when the block names none.
	awsEnv(t, "ap-south-1")
	if _, err := NewClient(cfg.Models[0], config.Access{}, nil); err != nil {
		t.Errorf("with AWS_REGION: %v", err)
	}
}
