package wiring

import (
	"fmt"
	"net/url"

	"github.com/chorusml/chorus/worker/config"
)

// PointModelsAt replaces the host and port of every model URL with
// hostport: the demo and the tests serve all models on one local port that
// is only known once it is listening.
func PointModelsAt(cfg *config.Config, hostport string) error {
	for i := range cfg.Models {
		u, err := url.Parse(cfg.Models[i].URL)
		if err != nil {
			return fmt.Errorf("models[%d].url: %w", i, err)
		}
		u.Host = hostport
		cfg.Models[i].URL = u.String()
	}
	return nil
}
