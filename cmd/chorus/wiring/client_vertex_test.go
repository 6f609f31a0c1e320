package wiring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/worker/config"
)

// vertexConfig is a config with one vertex model at url; auth is the
// model's auth block.
func vertexConfig(t *testing.T, url, protocol, auth string) *config.Config {
	t.Helper()
	y := fmt.Sprintf(`
source: {type: memory}
sink: {type: file, file: {path: out.jsonl}}
models:
  - name: sentiment
    protocol: %s
    url: %s
    labels: [negative, neutral, positive]
%s
pipelines:
  - name: default
    version: "1"
    sentiment: {models: [{model: sentiment}]}
tenants: [{name: "*", pipeline: default}]
`, protocol, url, auth)
	c, err := config.Parse([]byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenServer is an OAuth2 token endpoint that hands out numbered access
// tokens for the refresh token "refresh-1", each valid for life.
type tokenServer struct {
	*httptest.Server
	mu     sync.Mutex
	issued int
}

func newTokenServer(t *testing.T, life time.Duration) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != "refresh-1" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"Bad Request"}`)
			return
		}
		ts.mu.Lock()
		ts.issued++
		n := ts.issued
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": fmt.Sprintf("ya29.token-%d", n), "token_type": "Bearer",
			"expires_in": int(life.Seconds()), "scope": googleScope})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// useCredentials points Application Default Credentials at an
// authorized_user file whose token endpoint is tokenURL, and away from
// any real credentials on this machine.
func useCredentials(t *testing.T, tokenURL, refreshToken string) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("CLOUDSDK_CONFIG", dir)
	path := filepath.Join(dir, "adc.json")
	b, _ := json.Marshal(map[string]string{
		"type": "authorized_user", "client_id": "chorus-test.apps.googleusercontent.com",
		"client_secret": "client-s3cret", "refresh_token": refreshToken, "token_uri": tokenURL})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
}

const automlBody = `{"predictions":[{"ids":["1","2","3"],"displayNames":["negative","neutral","positive"],"confidences":[0.1,0.2,0.7]}],"modelVersionId":"1"}`

func TestGoogleCredentialsRefresh(t *testing.T) {
	// oauth2 treats a token as expired 10s before its expiry: 12s of life
	// is about 2s of use.
	tokens := newTokenServer(t, 12*time.Second)
	useCredentials(t, tokens.URL, "refresh-1")
	auth := make(chan string, 8)
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth <- r.Header.Get("Authorization")
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, automlBody)
	}))
	defer srv.Close()

	cfg := vertexConfig(t, srv.URL, ProtocolVertex, "    auth: {google: true}")
	clients, err := Clients(cfg, func(string) string { return "" }, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	c, err := clients(cfg.Models[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	call := func() (string, error) {
		_, err := c.Predict(ctx, []string{"great"})
		return <-auth, err
	}
	for i := range 2 {
		got, err := call()
		if err != nil {
			t.Fatal(err)
		}
		if got != "Bearer ya29.token-1" {
			t.Fatalf("request %d: Authorization %q, want the first token", i, got)
		}
	}
	time.Sleep(2500 * time.Millisecond)
	got, err := call()
	if err != nil {
		t.Fatal(err)
	}
	if got != "Bearer ya29.token-2" {
		t.Errorf("after expiry: Authorization %q, want a new token", got)
	}

	// The server refusing the token: the error says so without the token.
	status.Store(http.StatusUnauthorized)
	_, err = call()
	if err == nil || strings.Contains(err.Error(), "ya29") {
		t.Errorf("401: error %v; want one without the token", err)
	}
}

func TestGoogleCredentialsRefused(t *testing.T) {
	tokens := newTokenServer(t, time.Hour)
	useCredentials(t, tokens.URL, "revoked-refresh-token")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a request without a token reached the model")
	}))
	defer srv.Close()
	cfg := vertexConfig(t, srv.URL, ProtocolVertex, "    auth: {google: true}")
	clients, err := Clients(cfg, func(string) string { return "" }, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	c, err := clients(cfg.Models[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Predict(context.Background(), []string{"great"})
	if err == nil {
		t.Fatal("Predict succeeded without a token")
	}
	for _, secret := range []string{"revoked-refresh-token", "client-s3cret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q holds a credential", err)
		}
	}
}

func TestGoogleCredentialsAtStartUp(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("CLOUDSDK_CONFIG", dir)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(dir, "missing.json"))
	tests := []struct {
		name, url, protocol, auth, want string
	}{
		{"none found", "http://127.0.0.1:1", ProtocolVertex, "    auth: {google: true}", "models[0].auth.google: no Application Default Credentials"},
		{"on by default for Vertex AI", "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/endpoints/1:predict", ProtocolVertex, "", "models[0].auth.google: no Application Default Credentials"},
		{"other protocols", "http://127.0.0.1:1", ProtocolTEI, "    auth: {google: true}", "models[0].auth.google: Google credentials are for protocol vertex"},
		{"off", "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/endpoints/1:predict", ProtocolVertex, "    auth: {google: false}", ""},
		{"not Vertex AI", "http://127.0.0.1:1", ProtocolVertex, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := vertexConfig(t, tc.url, tc.protocol, tc.auth)
			_, err := Clients(cfg, func(string) string { return "" }, zerolog.Nop())
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Clients: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Clients: %v, want %q", err, tc.want)
			}
		})
	}
}
