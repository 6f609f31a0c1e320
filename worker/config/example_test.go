package config_test

import (
	"errors"
	"fmt"

	"github.com/chorusml/chorus/worker/config"
)

func ExampleLoad() {
	// A worker passes os.Getenv; nil (no environment) keeps this example
	// independent of the machine it runs on.
	c, err := config.Load("../../deploy/examples/demo.yaml", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := c.Pipelines[0]
	fmt.Println(p.Name, p.Version, "quorum", p.Quorum)
	for _, m := range c.Models {
		fmt.Println(m.Name, m.Protocol, m.Batch.MaxItems, m.Timeout)
	}
	// Output:
	// default 2026-11-25.1 quorum 2
	// sentiment-vader vertex 64 10s
	// sentiment-nb open-inference 64 10s
	// topics open-inference 64 10s
	// acme-topics tei 64 10s
	// hooli-llm-tags openai 64 10s
}

func ExampleParse_errors() {
	_, err := config.Parse([]byte(`
source: {type: kafka}
sink: {type: file, file: {path: out.jsonl}}
models:
  - name: nb
    protocol: open-inference
    url: http://127.0.0.1:8500
    labels: [negative, positive]
    batch: {max_item: 8}
`), nil)

	// Every problem at once, each with its field path and line.
	fmt.Println(err)

	// Or one by one, for tools that annotate the file.
	var problems config.Errors
	if errors.As(err, &problems) {
		fmt.Println(problems[0].Path, problems[0].Line)
	}
	// Output:
	// models[0].batch: unknown field "max_item", did you mean "max_items"? (line 9)
	// models[0].batch 9
}

func ExampleConfig_ResolveModel() {
	c, err := config.Parse([]byte(`
source: {type: memory}
sink: {type: file, file: {path: out.jsonl}}
models:
  - name: nb
    protocol: open-inference
    url: https://models.example.com
    labels: [negative, positive]
    auth:
      bearer_token_env: NB_TOKEN
      headers: {X-Client: chorus}
pipelines:
  - {name: default, version: "1", sentiment: {models: [{model: nb}]}}
tenants:
  - {name: "*", pipeline: default}
`), fakeEnv)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Per model, when the model is first needed; never logged.
	access, err := c.ResolveModel("nb", fakeEnv)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(access.Headers["Authorization"], access.Headers["X-Client"], access.TLS == nil)
	// Output:
	// Bearer t0ken chorus true
}

// fakeEnv stands in for os.Getenv.
func fakeEnv(name string) string {
	if name == "NB_TOKEN" {
		return "t0ken"
	}
	return ""
}
