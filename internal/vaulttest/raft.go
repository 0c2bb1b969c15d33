//go:build linux

package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/child"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Cluster is three Vault servers with integrated (Raft) storage on
// loopback, initialized with one unseal key and joined into one cluster:
// the distributed engine replicas rely on, where a dev server is one
// process in memory. Each node keeps its data in the test's temp folder,
// so a node that is killed and started again comes back sealed with its
// data, as a real one does.
type Cluster struct {
	t     testing.TB
	bin   string
	Nodes []*Node
	root  sensitive.String
	key   sensitive.String // the one unseal key
}

// Node is one server of a Cluster.
type Node struct {
	ID   string // node1, node2, node3
	Addr string // http://127.0.0.1:PORT, its API address
	// Client talks to this node only (a standby forwards to the leader).
	Client *vault.Client

	dir     string
	proc    child.Proc
	stopped atomic.Bool // SIGSTOPped
}

// clusterWait bounds every wait of the cluster helpers: start, election,
// unseal.
const clusterWait = 90 * time.Second

// StartCluster starts, initializes, unseals and joins three Raft nodes and
// waits until the Raft configuration shows three voters and a leader. A
// node that exits while starting (another test took one of its ports
// between FreePort and the bind) makes the whole cluster start again on
// new ports. Nodes are killed at cleanup; their output is shown if the
// test failed.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := devvault.Find()
	if err != nil {
		t.Fatalf("%v\nRun the tests with scripts/test, which builds Vault first.", err)
	}
	var lastErr error
	for attempt := range 3 {
		c := &Cluster{t: t, bin: bin}
		t.Cleanup(c.kill)
		if lastErr = c.start(filepath.Join(t.TempDir(), fmt.Sprintf("try%d", attempt))); lastErr == nil {
			t.Cleanup(func() {
				if t.Failed() {
					c.logOutput()
				}
			})
			return c
		}
		c.kill()
		c.logOutput()
	}
	t.Fatalf("starting a three-node Raft cluster: %v", lastErr)
	return nil
}

func (c *Cluster) start(dir string) error {
	ctx, cancel := context.WithTimeout(c.t.Context(), 2*clusterWait)
	defer cancel()
	ports := make([]int, 6)
	for i := range ports {
		p, err := child.FreePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	for i := range 3 {
		n := &Node{ID: fmt.Sprintf("node%d", i+1), Addr: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]), dir: filepath.Join(dir, fmt.Sprintf("node%d", i+1))}
		if err := os.MkdirAll(filepath.Join(n.dir, "raft"), 0o700); err != nil {
			return err
		}
		cl, err := vault.New(vault.Options{Address: n.Addr, Timeout: 10 * time.Second})
		if err != nil {
			return err
		}
		n.Client = cl
		c.Nodes = append(c.Nodes, n)
	}
	for i, n := range c.Nodes {
		var joins strings.Builder
		for _, o := range c.Nodes {
			if o != n {
				fmt.Fprintf(&joins, "  retry_join {\n    leader_api_addr = %q\n  }\n", o.Addr)
			}
		}
		// performance_multiplier 3: a leader is replaced within seconds,
		// and a busy test machine (1 is production timing) does not make
		// a leader step down by itself. TLS is off on loopback only.
		conf := fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = %q
  performance_multiplier = 3
%s}
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
api_addr      = %q
cluster_addr  = "https://127.0.0.1:%d"
disable_mlock = true
ui            = false
log_level     = "info"
`, filepath.Join(n.dir, "raft"), n.ID, joins.String(), ports[2*i], ports[2*i+1], n.Addr, ports[2*i+1])
		if err := os.WriteFile(filepath.Join(n.dir, "vault.hcl"), []byte(conf), 0o600); err != nil {
			return err
		}
		if err := n.run(c.bin); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		if err := n.waitAnswering(ctx); err != nil {
			return err
		}
	}
	first := c.Nodes[0]
	init, err := first.Client.Write(ctx, sensitive.String{}, "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	if err != nil {
		return fmt.Errorf("initializing %s: %w", first.ID, err)
	}
	keys, _ := init.Data["keys_base64"].([]any)
	root, _ := init.Data["root_token"].(string)
	if len(keys) != 1 || root == "" {
		return errors.New("initializing: no unseal key or root token in the answer")
	}
	key, _ := keys[0].(string)
	c.key, c.root = sensitive.New(key), sensitive.New(root)
	if err := c.unseal(ctx, first); err != nil {
		return err
	}
	// Joining nodes become voters once autopilot finds them stable; the
	// default wait is 10s, too long for a test's start.
	if _, err := first.Client.Write(ctx, c.root, "sys/storage/raft/autopilot/configuration", map[string]any{"server_stabilization_time": "2s"}); err != nil {
		return fmt.Errorf("configuring autopilot: %w", err)
	}
	for _, n := range c.Nodes[1:] {
		if err := c.unseal(ctx, n); err != nil {
			return err
		}
	}
	return c.WaitHealthy(ctx)
}

// Root is the cluster's root token.
func (c *Cluster) Root() sensitive.String { return c.root }

// Client talks to node1; a standby forwards what it cannot serve.
func (c *Cluster) Client() *vault.Client { return c.Nodes[0].Client }

// run starts the node's process from its configuration.
func (n *Node) run(bin string) error {
	out, err := os.OpenFile(filepath.Join(n.dir, "vault.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "server", "-config", filepath.Join(n.dir, "vault.hcl"))
	cmd.Dir = n.dir
	cmd.Env = append(child.Env("VAULT_", "BAO_", "HOME="), "HOME="+n.dir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.proc.Start(cmd, func() { _ = out.Close() }); err != nil {
		_ = out.Close()
		return fmt.Errorf("starting %s: %w", n.ID, err)
	}
	n.stopped.Store(false)
	return nil
}

// waitAnswering waits until the node answers sys/health, sealed or not.
func (n *Node) waitAnswering(ctx context.Context) error {
	deadline := time.Now().Add(clusterWait)
	for {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := n.Client.Health(hctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-n.proc.Exited():
			return fmt.Errorf("%s exited while starting", n.ID)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s", n.ID, clusterWait)
		}
	}
}

// unseal gives n the key until it serves requests. A node that is still
// joining the cluster (retry_join) takes the key once its join started, so
// the key is given again until the node reports itself unsealed.
func (c *Cluster) unseal(ctx context.Context, n *Node) error {
	deadline := time.Now().Add(clusterWait)
	for {
		h, err := n.Client.Health(ctx)
		if err == nil && h.Initialized && !h.Sealed {
			if _, err := n.Client.Read(ctx, c.root, "auth/token/lookup-self"); err == nil {
				return nil
			}
		}
		if err == nil && h.Sealed {
			_, _ = n.Client.Write(ctx, sensitive.String{}, "sys/unseal", map[string]any{"key": c.key.Reveal()})
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not serve requests within %s of unsealing", n.ID, clusterWait)
		}
		select {
		case <-n.proc.Exited():
			return fmt.Errorf("%s exited while unsealing", n.ID)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// WaitHealthy waits until the Raft configuration, as the leader sees it,
// holds the three nodes as voters, one of them the leader, and every node
// serves requests.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(clusterWait)
	var last string
	for {
		ok, state := c.healthy(ctx)
		if ok {
			return nil
		}
		last = state
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster was not three voters with a leader within %s: %s", clusterWait, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// healthy reports whether the cluster is whole, and if not, what it saw.
func (c *Cluster) healthy(ctx context.Context) (bool, string) {
	l, err := c.Leader(ctx)
	if err != nil {
		return false, err.Error()
	}
	cfg, err := l.Client.Read(ctx, c.root, "sys/storage/raft/configuration")
	if err != nil {
		return false, err.Error()
	}
	ok, state := threeVoters(cfg.Data)
	return ok && c.allServe(ctx), state
}

func threeVoters(data map[string]any) (bool, string) {
	cfg, _ := data["config"].(map[string]any)
	servers, _ := cfg["servers"].([]any)
	voters, leaders := 0, 0
	for _, s := range servers {
		m, _ := s.(map[string]any)
		if v, _ := m["voter"].(bool); v {
			voters++
		}
		if l, _ := m["leader"].(bool); l {
			leaders++
		}
	}
	return len(servers) == 3 && voters == 3 && leaders == 1, fmt.Sprintf("%d servers, %d voters, %d leaders", len(servers), voters, leaders)
}

func (c *Cluster) allServe(ctx context.Context) bool {
	for _, n := range c.Nodes {
		if _, err := n.Client.Read(ctx, c.root, "auth/token/lookup-self"); err != nil {
			return false
		}
	}
	return true
}

// Leader is the active node, as the first answering node that is not
// stopped reports it (sys/leader), and as that node confirms of itself.
func (c *Cluster) Leader(ctx context.Context) (*Node, error) {
	for _, n := range c.Nodes {
		if !n.running() {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := n.Client.Read(lctx, sensitive.String{}, "sys/leader")
		cancel()
		if err != nil || s == nil {
			continue
		}
		addr, _ := s.Data["leader_address"].(string)
		for _, l := range c.Nodes {
			if l.Addr == addr && l.running() {
				return l, nil
			}
		}
	}
	return nil, errors.New("no running node names a running leader")
}

// WaitNewLeader waits until a running node other than old leads.
func (c *Cluster) WaitNewLeader(ctx context.Context, old *Node) (*Node, error) {
	deadline := time.Now().Add(clusterWait)
	for {
		if l, err := c.Leader(ctx); err == nil && l != old {
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no new leader within %s of losing %s", clusterWait, old.ID)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// running reports whether the node's process is alive and not stopped.
func (n *Node) running() bool { return n.proc.Running() && !n.stopped.Load() }

// Kill ends the node with SIGKILL and waits for it: no step-down, no
// seal, as when a machine loses power.
func (n *Node) Kill() { n.proc.Kill() }

// Restart starts a killed node again from its data on the same ports and
// unseals it; it rejoins the cluster as the Raft peer it was.
func (c *Cluster) Restart(ctx context.Context, n *Node) error {
	if n.running() {
		return fmt.Errorf("%s is still running", n.ID)
	}
	if err := n.run(c.bin); err != nil {
		return err
	}
	if err := n.waitAnswering(ctx); err != nil {
		return err
	}
	return c.unseal(ctx, n)
}

// Pause sends SIGSTOP: the node neither answers nor sends heartbeats, as
// behind a network partition, but keeps its state and connections.
func (n *Node) Pause() error { return n.signal(syscall.SIGSTOP, true) }

// Resume sends SIGCONT to a paused node.
func (n *Node) Resume() error { return n.signal(syscall.SIGCONT, false) }

func (n *Node) signal(sig syscall.Signal, stopped bool) error {
	if err := n.proc.Signal(sig); err != nil {
		return fmt.Errorf("signalling %s: %w", n.ID, err)
	}
	n.stopped.Store(stopped)
	return nil
}

// kill ends every node (a stopped one too: SIGKILL reaches it).
func (c *Cluster) kill() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// logOutput shows each node's output in the test log.
func (c *Cluster) logOutput() {
	for _, n := range c.Nodes {
		b, _ := os.ReadFile(filepath.Join(n.dir, "vault.log"))
		c.t.Logf("%s (%s) output:\n%s", n.ID, n.Addr, b)
	}
}
