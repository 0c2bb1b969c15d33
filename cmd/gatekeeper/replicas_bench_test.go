package main_test

import (
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkReplicaReadLatency measures what the shared store adds to one
// read_secret over Streamable HTTP (sessionless protocol, one caller, a
// read grant already held): one process with state in memory, and
// replicas with the vault backend revalidating every 2s (the default: most
// calls are cache hits) or on every call (each call also reads its slot
// from Vault). It reports the median latency per call; compare medians of
// several runs:
//
//	go test -run XXX -bench ReplicaReadLatency -benchtime 2000x -count 5 ./cmd/gatekeeper
func BenchmarkReplicaReadLatency(b *testing.B) {
	e, d := replicaEnv(b)
	sessions := map[string]*mcp.ClientSession{}
	for _, c := range []struct{ name, backend, revalidate string }{
		{"memory", "memory", "2s"},
		{"vault-revalidate-2s", "vault", "2s"},
		{"vault-revalidate-0s", "vault", "0s"},
	} {
		h := e.serveReplica(replicaConfig(b, d, c.backend, c.revalidate, true), d, "GATEKEEPER_LOG_LEVEL=warn")
		cs := connectVia(b, h.url, newBalancer(h))
		mustRead(b, cs, c.name) // the approval, once
		sessions[c.name] = cs
	}
	for _, name := range []string{"memory", "vault-revalidate-2s", "vault-revalidate-0s"} {
		b.Run(name, func(b *testing.B) {
			cs := sessions[name]
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				res, err := cs.CallTool(b.Context(), &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"path": "db"}})
				if err != nil || res.IsError {
					b.Fatalf("read_secret: %v %v", err, res)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
