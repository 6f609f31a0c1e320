package wiring

import (
	"context"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/vertex"
)

// googleScope is what Vertex AI prediction needs.
const googleScope = "https://www.googleapis.com/auth/cloud-platform"

// vertexClient maps models[].vertex onto the adapter. Google credentials
// come in spec.Transport, resolved by Clients.
func vertexClient(m config.Model, spec endpoint.Spec) (endpoint.Client, error) {
	v := m.Vertex
	return vertex.New(spec, vertex.Options{
		Instance:      vertex.Instance(v.Instance),
		InstanceKey:   v.InstanceKey,
		MIMEType:      v.MIMEType,
		Prediction:    vertex.Prediction(v.Prediction),
		Parameters:    v.Parameters,
		SignatureName: v.SignatureName,
	})
}

// googleTransports finds Application Default Credentials once, if any
// model uses them, and returns for each such model (by name) a transport
// wrapper adding its OAuth2 tokens, refreshed before they expire. A model
// that asks for them without a vertex protocol, or a machine without
// credentials, fails here, at start-up, naming the field.
func googleTransports(ctx context.Context, cfg *config.Config) (map[string]func(http.RoundTripper) http.RoundTripper, error) {
	out := map[string]func(http.RoundTripper) http.RoundTripper{}
	var wrap func(http.RoundTripper) http.RoundTripper
	for i := range cfg.Models {
		m := &cfg.Models[i]
		if !config.GoogleAuth(m) {
			continue
		}
		if m.Protocol != ProtocolVertex {
			return nil, fmt.Errorf("models[%d].auth.google: Google credentials are for protocol %s, not %s", i, ProtocolVertex, m.Protocol)
		}
		if wrap == nil {
			// The token source outlives start-up: it refreshes tokens for
			// as long as the worker runs, so it must not hold a context
			// that start-up cancels.
			creds, err := google.FindDefaultCredentials(context.WithoutCancel(ctx), googleScope)
			if err != nil {
				return nil, fmt.Errorf("models[%d].auth.google: no Application Default Credentials (set GOOGLE_APPLICATION_CREDENTIALS, run gcloud auth application-default login, or set auth.google: false): %w", i, err)
			}
			ts := creds.TokenSource
			wrap = func(base http.RoundTripper) http.RoundTripper {
				return &oauth2.Transport{Source: ts, Base: base}
			}
		}
		out[m.Name] = wrap
	}
	return out, nil
}
