package bqsink

import (
	"net"
	"net/url"
	"strings"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// EmulatorOptions returns client options that reach a BigQuery emulator,
// such as bqfake, without credentials or TLS: restURL is its REST endpoint
// ("http://127.0.0.1:9050", paths then come without /bigquery/v2), grpcAddr
// its Storage Write endpoint ("127.0.0.1:9060"). Use them as
// Options.ClientOptions and Options.WriteClientOptions. Never for a real
// endpoint: nothing is authenticated or encrypted.
func EmulatorOptions(restURL, grpcAddr string) (rest, write []option.ClientOption) {
	rest = []option.ClientOption{
		option.WithEndpoint(restURL),
		option.WithoutAuthentication(),
	}
	write = []option.ClientOption{
		option.WithEndpoint(grpcAddr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
	return rest, write
}

// EndpointOptions turns the endpoint overrides of a configuration
// (sink.bigquery.rest_endpoint and sink.bigquery.endpoint) into client
// options:
//
//   - both empty: none; the clients use Google's endpoints and Application
//     Default Credentials;
//   - both on a loopback host (localhost, 127.0.0.0/8, ::1): an emulator,
//     as EmulatorOptions (no credentials, no TLS);
//   - otherwise: each endpoint given replaces Google's, with credentials and
//     TLS as usual (a private or regional endpoint).
func EndpointOptions(restURL, grpcAddr string) (rest, write []option.ClientOption) {
	if restURL != "" && grpcAddr != "" && loopbackURL(restURL) && loopbackAddr(grpcAddr) {
		return EmulatorOptions(restURL, grpcAddr)
	}
	if restURL != "" {
		rest = append(rest, option.WithEndpoint(restURL))
	}
	if grpcAddr != "" {
		write = append(write, option.WithEndpoint(grpcAddr))
	}
	return rest, write
}

func loopbackURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && loopbackHost(u.Hostname())
}

func loopbackAddr(s string) bool {
	host, _, err := net.SplitHostPort(s)
	return err == nil && loopbackHost(host)
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
