package bqsink

import "testing"

func TestEndpointOptions(t *testing.T) {
	tests := []struct {
		name               string
		rest, grpc         string
		emulator           bool
		wantRest, wantGRPC int
	}{
		{"google", "", "", false, 0, 0},
		{"fake_on_ipv4_loopback", "http://127.0.0.1:9050", "127.0.0.1:9060", true, 2, 3},
		{"fake_on_localhost", "http://localhost:9050", "localhost:9060", true, 2, 3},
		{"fake_on_ipv6_loopback", "http://[::1]:9050", "[::1]:9060", true, 2, 3},
		{"private_endpoints", "https://bigquery.example.internal", "bigquerystorage.example.internal:443", false, 1, 1},
		{"only_grpc_on_loopback", "", "127.0.0.1:9060", false, 0, 1},
		{"mixed_hosts", "http://127.0.0.1:9050", "bigquerystorage.example.internal:443", false, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rest, write := EndpointOptions(tc.rest, tc.grpc)
			if len(rest) != tc.wantRest || len(write) != tc.wantGRPC {
				t.Errorf("%d REST and %d gRPC options, want %d and %d", len(rest), len(write), tc.wantRest, tc.wantGRPC)
			}
			emulator := tc.rest != "" && tc.grpc != "" && loopbackURL(tc.rest) && loopbackAddr(tc.grpc)
			if emulator != tc.emulator {
				t.Errorf("emulator = %v, want %v", emulator, tc.emulator)
			}
		})
	}
}
