package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo/duotest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/bench"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// The benchmarks below are the quick, in-tree form of scripts/bench (which
// runs the full table of docs/performance.md): read_secret through
// Gatekeeper next to the same KV read sent straight to Vault with the
// OpenBao API client, reporting calls per second and p50/p99 latency.
//
//	go test -run XXX -bench ReadSecret -benchtime 2000x ./cmd/gatekeeper
//
// Every agent has its own JWT, session, read grant and Vault token; grants
// come from the brokered strategy with the local Duo fake approving at once,
// so that a hundred agents are set up in seconds.

// BenchmarkReadSecretHTTP: 1, 10 and 100 agents calling at once over
// Streamable HTTP with JWT auth, and as many direct clients.
func BenchmarkReadSecretHTTP(b *testing.B) {
	const maxAgents = 100
	f := newBenchFleet(b, maxAgents)
	h := f.serveHTTP(b)
	sessions := make([]*mcp.ClientSession, maxAgents)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			cs := h.connect(b, h.client(nil, map[string]string{"Authorization": "Bearer " + f.jwts[i]}), bench.SessionProtocol)
			if err := bench.CallOnce(b.Context(), cs, "authenticate", nil); err != nil {
				b.Errorf("agent %s: %v", f.agents[i], err)
			}
			sessions[i] = cs
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("vault-direct/clients=%d", n), func(b *testing.B) { measure(b, n, f.direct(b, n)) })
		b.Run(fmt.Sprintf("gatekeeper/agents=%d", n), func(b *testing.B) {
			measure(b, n, bench.ToolCall(sessions[:n], "read_secret", readArgs))
		})
	}
}

// BenchmarkReadSecretStdio: one client over stdio, as a coding agent runs
// Gatekeeper, and one direct client.
func BenchmarkReadSecretStdio(b *testing.B) {
	f := newBenchFleet(b, 1)
	a := f.e.serveBrokered(f.config, f.env("GATEKEEPER_AGENT="+f.agents[0])...)
	if err := bench.CallOnce(b.Context(), a.session, "authenticate", nil); err != nil {
		b.Fatal(err)
	}
	b.Run("vault-direct", func(b *testing.B) { measure(b, 1, f.direct(b, 1)) })
	b.Run("gatekeeper", func(b *testing.B) {
		measure(b, 1, bench.ToolCall([]*mcp.ClientSession{a.session}, "read_secret", readArgs))
	})
}

var readArgs = json.RawMessage(`{"path":"db"}`)

// measure makes b.N calls from n concurrent callers and reports throughput
// and latency percentiles.
func measure(b *testing.B, n int, call bench.Call) {
	b.Helper()
	b.ResetTimer()
	res, err := bench.Load(b.Context(), bench.LoadOptions{Clients: n, Count: b.N}, call)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors > 0 {
		b.Fatalf("%d of %d calls failed, the first: %v", res.Errors, b.N, res.FirstError)
	}
	b.ReportMetric(res.PerSecond(), "calls/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
}

// benchFleet is one Vault set up for n agents (a000, a001, …) under the
// brokered strategy with a Duo fake that approves every push, each agent
// with a secret "db", a JWT, and a Vault token of its read policy for the
// direct baseline.
type benchFleet struct {
	e         *env
	agents    []string
	config    string // YAML
	jwtSecret string
	duoKey    string
	jwts      []string
	tokens    []string
}

func newBenchFleet(b *testing.B, n int) *benchFleet {
	b.Helper()
	ctx := b.Context()
	e := &env{t: b, srv: vaulttest.Start(b)}
	e.vc, e.root = vaulttest.Client(b, e.srv), vaulttest.Root(e.srv)
	f := &benchFleet{e: e, jwtSecret: strings.Repeat("j", 32)}
	var agents []setup.AgentSetup
	for i := range n {
		f.agents = append(f.agents, fmt.Sprintf("a%03d", i))
		agents = append(agents, setup.AgentSetup{Name: setup.Agent(f.agents[i])})
	}
	res, err := setup.Apply(ctx, e.vc, e.root, setup.Options{Layout: vaulttest.DefaultLayout, Agents: agents, Brokered: true})
	if err != nil {
		b.Fatal(err)
	}
	e.res = res

	d := duotest.Start(b)
	d.SetUser("ada", duotest.User{Script: duotest.Script{Answer: duotest.Allow}})
	f.duoKey = d.SKey
	ca := filepath.Join(b.TempDir(), "duo-ca.pem")
	if err := os.WriteFile(ca, d.CertificatePEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "approval:\n  strategy: brokered\n  approver: duo\n  duo: {host: %q, integration_key: %s, username: ada, ca_file: %q}\n", d.Host, d.IKey, ca)
	cfg.WriteString("limits:\n  rate: {per_minute: 100000000, burst: 1000000}\n  approvals: {per_minute: 100000, burst: 100000}\nagents:\n")
	for _, name := range f.agents {
		fmt.Fprintf(&cfg, "  - {name: %s}\n", name)
	}
	f.config = cfg.String()

	for _, name := range f.agents {
		if _, err := e.vc.KVWrite(ctx, e.root, "secret", "agent/"+name+"/db", map[string]any{"password": "pw-" + name}); err != nil {
			b.Fatal(err)
		}
		jwt, err := clientauth.MintHS256(sensitive.New(f.jwtSecret), "gatekeeper", "gatekeeper", name, []string{"read"}, time.Hour, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		f.jwts = append(f.jwts, jwt)
		tok, err := e.vc.Write(ctx, e.root, "auth/token/create", map[string]any{
			"policies": []string{"gatekeeper-" + name + "-read"}, "no_default_policy": true, "ttl": "1h",
		})
		if err != nil {
			b.Fatal(err)
		}
		f.tokens = append(f.tokens, tok.Auth.ClientToken)
	}
	return f
}

// env is the environment of a Gatekeeper process of the fleet.
func (f *benchFleet) env(extra ...string) []string {
	return append([]string{
		"VAULT_TOKEN=" + f.e.res.BrokerToken.Reveal(),
		"GATEKEEPER_JWT_SECRET=" + f.jwtSecret,
		"GATEKEEPER_DUO_SECRET_KEY=" + f.duoKey,
		"GATEKEEPER_LOG_LEVEL=info",
	}, extra...)
}

func (f *benchFleet) serveHTTP(b *testing.B) *httpServer {
	b.Helper()
	return f.e.serveHTTP(f.config, nil, f.env()...)
}

// direct reads agent i's secret with agent i's token, for clients 0..n-1.
func (f *benchFleet) direct(b *testing.B, n int) bench.Call {
	b.Helper()
	var paths []string
	for _, name := range f.agents[:n] {
		paths = append(paths, "agent/"+name+"/db")
	}
	call, err := bench.DirectVault{Addr: f.e.srv.Addr, Tokens: f.tokens[:n], Mount: "secret", Paths: paths}.Call(n)
	if err != nil {
		b.Fatal(err)
	}
	return call
}
