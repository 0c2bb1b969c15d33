package main_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// BenchmarkReadSecretHTTP measures read_secret over Streamable HTTP for 1,
// 10 and 100 agents calling at once, each with its own API key, session,
// read grant and Vault token, against one Vault; and a direct Vault read
// with the same kind of token as the baseline. It reports requests per
// second and p50/p99 latency.
//
//	go test -run XXX -bench ReadSecretHTTP -benchtime 2000x ./cmd/gatekeeper
func BenchmarkReadSecretHTTP(b *testing.B) {
	const maxAgents = 100
	f := newBenchFleet(b, maxAgents)
	b.Run("vault-direct", func(b *testing.B) {
		measure(b, 1, func(int) error {
			_, err := f.e.vc.KVRead(context.Background(), f.baseline, "secret", "agent/a000/db")
			return err
		})
	})
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			measure(b, n, func(i int) error {
				res, err := f.sessions[i].CallTool(context.Background(), &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"path": "db"}})
				if err == nil && res.IsError {
					err = fmt.Errorf("read_secret: %v", res.Content)
				}
				return err
			})
		})
	}
}

// measure runs b.N calls spread over n concurrent callers and reports
// throughput and latency percentiles.
func measure(b *testing.B, n int, call func(caller int) error) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var mine []time.Duration
			for range work {
				t0 := time.Now()
				if err := call(i); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// benchFleet is one Vault and one gatekeeper serve --http with n agents,
// each holding a read grant.
type benchFleet struct {
	e        *env
	sessions []*mcp.ClientSession
	baseline sensitive.String // a token with agent a000's read policy
}

// newBenchFleet sets up n agents. Vault accepts each TOTP code once per MFA
// method, so for the benchmark every agent gets its own TOTP method (the
// approver enrolled in each): then all n approvals can happen at once. The
// login path is the product's own; only the enrollment is multiplied.
func newBenchFleet(b *testing.B, n int) *benchFleet {
	b.Helper()
	ctx := context.Background()
	e := &env{t: b, srv: vaulttest.Start(b)}
	e.vc, e.root = vaulttest.Client(b, e.srv), vaulttest.Root(e.srv)
	var agents []setup.AgentSetup
	var names []string
	for i := range n {
		name := fmt.Sprintf("a%03d", i)
		names = append(names, name)
		agents = append(agents, setup.AgentSetup{Name: setup.Agent(name)})
	}
	res, err := setup.Apply(ctx, e.vc, e.root, setup.Options{Layout: vaulttest.DefaultLayout, Agents: agents})
	if err != nil {
		b.Fatal(err)
	}
	e.res = res
	codes := map[string]*vaulttest.Authenticator{}
	var keys, agentLines strings.Builder
	for _, name := range names {
		if _, err := e.vc.KVWrite(ctx, e.root, "secret", "agent/"+name+"/db", map[string]any{"password": "pw-" + name}); err != nil {
			b.Fatal(err)
		}
		codes[name] = ownTOTP(b, e, res.EntityID, name)
		fmt.Fprintf(&keys, "    - {id: %s, agent: %s, sha256: %s, scopes: [read, list]}\n", name, name, sha("key-"+name))
		fmt.Fprintf(&agentLines, "  - {name: %s}\n", name)
	}
	p := newPKI(b)
	cfg := "http:\n  tls_cert_file: " + p.certFile + "\n  tls_key_file: " + p.keyFile +
		"\nauth:\n  api_keys:\n" + keys.String() +
		"agents:\n" + agentLines.String() +
		"limits:\n  rate: {per_minute: 10000000, burst: 100000}\n  approvals: {per_minute: 1000, burst: 1000}\n"
	h := e.serveHTTP(cfg, p, "GATEKEEPER_LOG_LEVEL=warn")

	f := &benchFleet{e: e, sessions: make([]*mcp.ClientSession, n)}
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			cs := h.connect(b, h.client(nil, map[string]string{"X-API-Key": "key-" + name}), "")
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "authenticate", Arguments: map[string]any{"passcode": codes[name].Code(b)}})
			if err != nil || res.IsError {
				b.Errorf("authenticating %s: %v %v", name, err, res)
				return
			}
			f.sessions[i] = cs
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	tok, err := e.vc.Write(ctx, e.root, "auth/token/create", map[string]any{
		"policies": []string{"gatekeeper-a000-read"}, "no_default_policy": true, "ttl": "1h",
	})
	if err != nil {
		b.Fatal(err)
	}
	f.baseline = sensitive.New(tok.Auth.ClientToken)
	return f
}
