package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// CanaryPrefix starts every secret value the run plants or writes, so that
// one search finds any of them in a log.
const CanaryPrefix = "soak-canary-"

// NewCanary returns a fresh secret value for agent.
func NewCanary(agent string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return CanaryPrefix + agent + "-" + hex.EncodeToString(b)
}

// AgentSpec is one agent of the fleet.
type AgentSpec struct {
	Name string
	Kind Kind
	Key  string // its API key
	// Sessions picks the session-based protocol (2025-11-25), which loses
	// its session when Gatekeeper restarts; otherwise the newest,
	// sessionless one.
	Sessions bool
	// Other is another agent, whose secret this one tries to reach.
	Other string
}

// agent is one agent at work: it behaves like a model following
// Gatekeeper's messages ("call authenticate", "call escalate").
type agent struct {
	spec    AgentSpec
	url     string
	rec     *Recorder
	rng     *mrand.Rand
	hc      *http.Client
	session *mcp.ClientSession
	// values are every value this agent planted or tried to write at db:
	// a read must return one of them.
	values   map[string]bool
	needAuth bool
}

const callTimeout = 45 * time.Second

func newAgent(spec AgentSpec, url, canary string, rec *Recorder) *agent {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	return &agent{
		spec: spec, url: url, rec: rec,
		rng: mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64())), //nolint:gosec // G404: picks the next call of a load test, no secret
		// No client timeout: it would cut the session's long-lived event
		// stream. Each call has its own deadline instead.
		hc:     &http.Client{Transport: &keyTransport{base: tr, key: spec.Key}},
		values: map[string]bool{canary: true},
	}
}

type keyTransport struct {
	base http.RoundTripper
	key  string
}

func (k *keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-API-Key", k.key)
	return k.base.RoundTrip(r)
}

// step makes one call, connecting first if needed.
func (a *agent) step(ctx context.Context) {
	if a.session == nil {
		if err := a.connect(ctx); err != nil {
			now := time.Now()
			a.rec.Add(Call{Agent: a.spec.Name, Kind: a.spec.Kind, Tool: "connect", Start: now, End: now, Proto: true, Msg: shorten(err.Error())})
			return
		}
	}
	if a.needAuth {
		a.call(ctx, "authenticate", "", nil)
		return
	}
	r := a.rng.Float64()
	switch a.spec.Kind {
	case Writer:
		switch {
		case r < 0.55:
			a.read(ctx, "db")
		case r < 0.65:
			a.call(ctx, "list_secrets", "", map[string]any{"path": ""})
		case r < 0.70:
			a.call(ctx, "token_status", "", nil)
		case r < 0.73:
			// Another agent's secret, by a path that tries to climb out of
			// this agent's folder: it must never be read.
			a.read(ctx, "../"+a.spec.Other+"/db")
		default:
			a.write(ctx)
		}
	case Reader:
		switch {
		case r < 0.80:
			a.read(ctx, "db")
		case r < 0.90:
			a.call(ctx, "list_secrets", "", map[string]any{"path": ""})
		case r < 0.95:
			a.call(ctx, "token_status", "", nil)
		default:
			// Not a tool this credential has: it must fail.
			a.call(ctx, "write_secret", "db", map[string]any{"path": "db", "data": map[string]any{"password": NewCanary(a.spec.Name)}})
		}
	case Denied:
		switch {
		case r < 0.70:
			a.read(ctx, "db")
		case r < 0.85:
			a.call(ctx, "authenticate", "", nil)
		default:
			a.call(ctx, "token_status", "", nil)
		}
	}
}

func (a *agent) read(ctx context.Context, path string) {
	a.call(ctx, "read_secret", path, map[string]any{"path": path})
}

// write writes a new value, escalating first when Gatekeeper says so, and
// sometimes releases write access afterwards.
func (a *agent) write(ctx context.Context) {
	value := NewCanary(a.spec.Name)
	a.values[value] = true // before sending: a write whose answer is lost may still land
	args := map[string]any{"path": "db", "data": map[string]any{"password": value}}
	c := a.call(ctx, "write_secret", "db", args)
	if !c.OK && strings.Contains(c.Msg, "Call escalate") {
		e := a.call(ctx, "escalate", "db", map[string]any{"reason": "soak: rotate the db password", "paths": []string{"db"}})
		if !e.OK {
			return
		}
		c = a.call(ctx, "write_secret", "db", args)
	}
	if c.OK && a.rng.Float64() < 0.3 {
		a.call(ctx, "release", "", nil)
	}
}

// call makes one tool call and records it.
func (a *agent) call(ctx context.Context, tool, path string, args map[string]any) Call {
	if args == nil {
		args = map[string]any{}
	}
	c := Call{Agent: a.spec.Name, Kind: a.spec.Kind, Tool: tool, Path: path, Start: time.Now()}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	res, err := a.session.CallTool(cctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	cancel()
	c.End = time.Now()
	switch {
	case err != nil:
		c.Msg = shorten(err.Error())
		// A JSON-RPC error (an unknown tool, bad arguments) is an answer;
		// anything else means the connection or session is gone.
		var rpc *jsonrpc.Error
		if !errors.As(err, &rpc) {
			c.Proto = true
			a.drop()
		}
	case res.IsError:
		for _, content := range res.Content {
			if t, ok := content.(*mcp.TextContent); ok {
				c.Msg += t.Text
			}
		}
		c.Msg = shorten(c.Msg)
	default:
		c.OK = true
		if tool == "read_secret" {
			c.Value = password(res.StructuredContent)
		}
	}
	switch {
	case c.OK && tool == "authenticate":
		a.needAuth = false
	case strings.Contains(c.Msg, "Call authenticate"):
		a.needAuth = true
	}
	if ctx.Err() == nil {
		a.rec.Add(c)
	}
	return c
}

// password digs data.password out of read_secret's structured result.
func password(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var out struct {
		Data map[string]any `json:"data"`
	}
	if json.Unmarshal(b, &out) != nil {
		return ""
	}
	s, _ := out.Data["password"].(string)
	return s
}

func (a *agent) connect(ctx context.Context) error {
	var opts *mcp.ClientSessionOptions
	if a.spec.Sessions {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"}
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "soak-" + a.spec.Name, Version: "1"}, nil)
	s, err := client.Connect(cctx, &mcp.StreamableClientTransport{Endpoint: a.url + "/mcp", HTTPClient: a.hc}, opts)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	a.session = s
	return nil
}

// drop forgets a session that failed below the tool level; the next step
// connects again.
func (a *agent) drop() {
	if a.session == nil {
		return
	}
	s := a.session
	a.session = nil
	go func() { _ = s.Close() }()
}

func (a *agent) close() {
	if a.session != nil {
		_ = a.session.Close()
		a.session = nil
	}
	a.hc.CloseIdleConnections()
}

func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
