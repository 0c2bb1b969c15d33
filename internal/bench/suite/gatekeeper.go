package suite

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo/duotest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/bench"
	"github.com/gatekeeper-mcp/gatekeeper/internal/child"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// fleet is one Vault set up for n agents (a0000, a0001, …) under the
// brokered strategy with the Duo fake as approver, each agent with a
// secret "db" in its folder, a JWT and a Vault token of its read policy
// for the direct baseline.
type fleet struct {
	bin    string // the gatekeeper binary
	dir    string
	vault  *devvault.Server
	duo    *duotest.Server
	config string // the config file
	agents []string
	// Secrets for the Gatekeeper processes, all made up for this run.
	broker, jwtSecret, auditKey string
	jwts                        []string
	direct                      []string // Vault tokens with agent i's read policy
	// profile, if set, is where CPU and heap profiles go; the binary must
	// be built with -tags pprof. pprof maps a process name to its
	// profiling address.
	profile string
	pprof   map[string]string
	// extraEnv is added to every Gatekeeper process's environment.
	extraEnv []string
	// setupTook is how long gatekeeper setup took for all the agents.
	setupTook time.Duration
}

// secretPath is the secret every agent reads, relative to its folder.
const secretPath = "db"

func agentName(i int) string { return fmt.Sprintf("a%04d", i) }

// newFleet writes the configuration, runs `gatekeeper setup` for the
// agents and prepares their secrets, JWTs and baseline tokens.
func newFleet(ctx context.Context, bin, dir, profile string, v *devvault.Server, d *duotest.Server, n int, logf func(string, ...any)) (*fleet, error) {
	f := &fleet{bin: bin, dir: dir, vault: v, duo: d, config: filepath.Join(dir, "gatekeeper.yaml"), profile: profile, pprof: map[string]string{}}
	for i := range n {
		f.agents = append(f.agents, agentName(i))
	}
	f.jwtSecret, f.auditKey = randomKey(), randomKey()
	if err := f.writeConfig(); err != nil {
		return nil, err
	}
	logf("setting up %d agents in Vault (gatekeeper setup --brokered, %d runs at once)", n, setupWorkers)
	t0 := time.Now()
	if err := f.setup(ctx); err != nil {
		return nil, err
	}
	f.setupTook = time.Since(t0)
	logf("setup took %s", f.setupTook.Round(time.Second))

	root, err := rootClient(v)
	if err != nil {
		return nil, err
	}
	f.direct = make([]string, n)
	err = parallel(ctx, n, 32, func(i int) error {
		name := f.agents[i]
		c, err := root.Clone()
		if err != nil {
			return err
		}
		c.SetToken(v.RootToken)
		if _, err := c.KVv2("secret").Put(ctx, "agent/"+name+"/"+secretPath, map[string]any{
			"username": "app-" + name, "password": randomKey()[:24],
		}); err != nil {
			return fmt.Errorf("writing %s's secret: %w", name, err)
		}
		tok, err := c.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{
			Policies: []string{"gatekeeper-" + name + "-read"}, NoDefaultPolicy: true, TTL: "4h",
		})
		if err != nil {
			return fmt.Errorf("creating %s's baseline token: %w", name, err)
		}
		f.direct[i] = tok.Auth.ClientToken
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, name := range f.agents {
		jwt, err := clientauth.MintHS256(sensitive.New(f.jwtSecret), "gatekeeper", "gatekeeper", name, []string{"read"}, 8*time.Hour, time.Now())
		if err != nil {
			return nil, err
		}
		f.jwts = append(f.jwts, jwt)
	}
	return f, nil
}

// writeConfig writes the configuration of the Gatekeeper processes, with
// every agent.
func (f *fleet) writeConfig() error {
	ca := filepath.Join(f.dir, "duo-ca.pem")
	if err := os.WriteFile(ca, f.duo.CertificatePEM(), 0o600); err != nil {
		return fmt.Errorf("writing the Duo fake's certificate: %w", err)
	}
	return f.writeConfigFor(f.config, ca, f.agents)
}

func (f *fleet) writeConfigFor(path, ca string, agents []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "approval:\n  strategy: brokered\n  approver: duo\n  duo: {host: %q, integration_key: %s, username: %s, ca_file: %q}\n",
		f.duo.Host, f.duo.IKey, duoUser, ca)
	// Limits far above what the benchmark asks, so that they are checked on
	// every call but never refuse one.
	b.WriteString("limits:\n  rate: {per_minute: 100000000, burst: 1000000}\n  approvals: {per_minute: 100000, burst: 100000}\n")
	b.WriteString("agents:\n")
	for _, a := range agents {
		fmt.Fprintf(&b, "  - {name: %s}\n", a)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("writing the configuration: %w", err)
	}
	return nil
}

// setupWorkers is how many `gatekeeper setup` runs go at once.
const setupWorkers = 4

// setup runs `gatekeeper setup --brokered` for every agent. One run sets
// agents up one after the other (a thousand take about twenty minutes
// here), and what runs share (mounts, policies, the approver's entity and
// MFA method, the broker token) does not depend on the agents they name.
// So a first run for one agent makes the shared part, then runs for
// disjoint groups of agents go in parallel, each touching only its own
// agents' objects and keeping the broker token the first one made.
func (f *fleet) setup(ctx context.Context) error {
	ca := filepath.Join(f.dir, "duo-ca.pem")
	groups := [][]string{f.agents[:1]}
	rest := f.agents[1:]
	for i := range setupWorkers {
		lo, hi := i*len(rest)/setupWorkers, (i+1)*len(rest)/setupWorkers
		if hi > lo {
			groups = append(groups, rest[lo:hi])
		}
	}
	tokens := make([]string, len(groups))
	run := func(i int) error {
		path := filepath.Join(f.dir, fmt.Sprintf("setup-%d.yaml", i))
		if err := f.writeConfigFor(path, ca, groups[i]); err != nil {
			return err
		}
		tok, err := f.setupRun(ctx, path)
		tokens[i] = tok
		return err
	}
	if err := run(0); err != nil {
		return err
	}
	if err := parallel(ctx, len(groups)-1, setupWorkers, func(i int) error { return run(i + 1) }); err != nil {
		return err
	}
	for _, t := range tokens[1:] {
		if t != tokens[0] {
			return errors.New("gatekeeper setup runs returned different broker tokens")
		}
	}
	f.broker = tokens[0]
	return nil
}

// setupRun runs gatekeeper setup with config and returns the broker token.
func (f *fleet) setupRun(ctx context.Context, config string) (string, error) {
	cmd := exec.CommandContext(ctx, f.bin, "setup", "--config", config, "--brokered", "--json")
	cmd.Env = append(cleanEnv(), "VAULT_ADDR="+f.vault.Addr, "VAULT_TOKEN="+f.vault.RootToken, "GATEKEEPER_DUO_SECRET_KEY="+f.duo.SKey)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("gatekeeper setup: %w\n%s", err, stderr.String())
	}
	var res struct {
		BrokerToken string `json:"broker_token"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.BrokerToken == "" {
		return "", fmt.Errorf("gatekeeper setup printed no broker token: %v", err) //nolint:errorlint // err is nil when the JSON held no token
	}
	return res.BrokerToken, nil
}

// env is the environment of a Gatekeeper process named name: its own audit
// file (a hash chain has one writer) and log.
func (f *fleet) env(name string) []string {
	var extra []string
	if f.profile != "" {
		if addr, err := freeAddr(); err == nil {
			f.pprof[name] = addr
			extra = append(extra, "GKBENCH_PPROF="+addr)
		}
		if strings.HasPrefix(name, "idle") {
			// A finer heap profile where memory is what is measured.
			extra = append(extra, "GODEBUG=memprofilerate=1024")
		}
	}
	extra = append(extra, f.extraEnv...)
	return append(append(cleanEnv(), extra...),
		"VAULT_ADDR="+f.vault.Addr,
		"VAULT_TOKEN="+f.broker,
		"GATEKEEPER_CONFIG="+f.config,
		"GATEKEEPER_JWT_SECRET="+f.jwtSecret,
		"GATEKEEPER_DUO_SECRET_KEY="+f.duo.SKey,
		"GATEKEEPER_AUDIT_FILE="+filepath.Join(f.dir, name+"-audit.jsonl"),
		"GATEKEEPER_AUDIT_KEY="+f.auditKey,
		"GATEKEEPER_LOG_LEVEL=info",
	)
}

// stdioTarget is `gatekeeper serve` over stdio acting as agent a0000;
// its log goes to the returned file.
func (f *fleet) stdioTarget(name string) (*bench.Target, *os.File, error) {
	log, err := os.Create(filepath.Join(f.dir, name+".log"))
	if err != nil {
		return nil, nil, err
	}
	return &bench.Target{
		Command: []string{f.bin, "serve"},
		BaseEnv: append(f.env(name), "GATEKEEPER_AGENT="+f.agents[0]),
		Stderr:  log,
	}, log, nil
}

// httpTarget is the MCP endpoint of p; session i authenticates as agent
// i mod len(agents) with its JWT.
func (f *fleet) httpTarget(p *process) *bench.Target {
	t := &bench.Target{URL: p.url + "/mcp", Protocol: bench.SessionProtocol}
	for _, jwt := range f.jwts {
		t.SessionHeaders = append(t.SessionHeaders, http.Header{"Authorization": {"Bearer " + jwt}})
	}
	return t
}

// process is a running `gatekeeper serve --http`.
type process struct {
	proc child.Proc
	url  string
	// ready is the time from the exec to the first 200 from /readyz.
	ready time.Duration
}

func (p *process) pid() int { return p.proc.PID() }

// startHTTP starts `gatekeeper serve --http` on a free loopback port and
// waits until /readyz answers 200.
func (f *fleet) startHTTP(ctx context.Context, name string) (*process, error) {
	logf, err := os.Create(filepath.Join(f.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }() // the child holds its own copy
	cmd := exec.Command(f.bin, "serve", "--http", "127.0.0.1:0")
	cmd.Env = f.env(name)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	p := &process{}
	if err := p.proc.Start(cmd, nil); err != nil {
		return nil, fmt.Errorf("starting gatekeeper: %w", err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "gatekeeper: listening on "); ok {
				urls <- strings.TrimSuffix(u, "/mcp")
			}
		}
	}()
	select {
	case p.url = <-urls:
	case <-p.proc.Exited():
		return nil, fmt.Errorf("gatekeeper serve --http exited at start (see %s.log)", name)
	case <-time.After(time.Minute):
		p.stop()
		return nil, errors.New("gatekeeper serve --http did not start within a minute")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.ready = time.Since(start)
				return p, nil
			}
		}
		if time.Since(start) > time.Minute || ctx.Err() != nil {
			p.stop()
			return nil, errors.New("gatekeeper did not become ready within a minute")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop asks the process to end (it revokes its grants first) and kills it
// if it has not within a minute.
func (p *process) stop() { p.proc.Stop(os.Interrupt, time.Minute) }

func rootClient(v *devvault.Server) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.Address = v.Addr
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(v.RootToken)
	return c, nil
}

// parallel runs fn(0..n-1) with at most width at once and returns the
// first error.
func parallel(ctx context.Context, n, width int, fn func(i int) error) error {
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// saveProfile fetches a profile (kind "profile" for CPU, "heap", …) from
// process name's pprof endpoint into the profile folder. It does nothing
// without a profile folder.
func (f *fleet) saveProfile(ctx context.Context, name, kind string, seconds int, file string) error {
	addr, ok := f.pprof[name]
	if f.profile == "" || !ok {
		return nil
	}
	u := "http://" + addr + "/debug/pprof/" + kind
	if seconds > 0 {
		u += "?seconds=" + strconv.Itoa(seconds)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the %s profile (built without -tags pprof?): %w", kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the %s profile: %s", kind, resp.Status)
	}
	out, err := os.Create(filepath.Join(f.profile, file))
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
