//go:build linux

package main_test

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo/duotest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaultstate"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// The replicas on the distributed engine they rely on: three Gatekeeper
// replicas, each pointed at its own node of a three-node Vault cluster
// with integrated (Raft) storage, under light load while the Vault leader
// is killed and, later, stopped as a stand-in for a partition.

// raftServeBound is how soon after a node is back every replica must
// serve again; docs/replicas.md states it with the measured figure.
const raftServeBound = 30 * time.Second

// raftOutageBound is the longest a replica may go without serving a read
// over the whole run: a stopped leader costs about 30s (docs/replicas.md).
const raftOutageBound = time.Minute

// raftWriteTTL is the write grant's life here: short, so that one grant
// expires while the cluster is disturbed.
const raftWriteTTL = 20 * time.Second

func raftKey(agent string) string { return "raft-test-key-" + agent + "-00000000000000000000" }

// loadLog records, per agent and replica, when a read last succeeded and
// the longest time a replica went without serving a read.
type loadLog struct {
	mu      sync.Mutex
	lastOK  map[string]time.Time // agent@replica
	longest []time.Duration      // by replica
	fails   int
}

func (l *loadLog) record(agent string, replica int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key, now := fmt.Sprintf("%s@%d", agent, replica), time.Now()
	if !ok {
		l.fails++
		return
	}
	if prev, seen := l.lastOK[key]; seen && now.Sub(prev) > l.longest[replica] {
		l.longest[replica] = now.Sub(prev)
	}
	l.lastOK[key] = now
}

// allServedSince reports whether every agent read through every replica
// after since.
func (l *loadLog) allServedSince(since time.Time, agents []string, replicas int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range agents {
		for r := range replicas {
			if !l.lastOK[fmt.Sprintf("%s@%d", a, r)].After(since) {
				return false
			}
		}
	}
	return true
}

// TestReplicasOnRaftCluster is issue 16's proof of the replica design on a
// real cluster: no grant lost or duplicated, no access outliving a
// revocation or an expiry, one approval per agent and tier, and every
// replica serving again within raftServeBound of each disturbance.
func TestReplicasOnRaftCluster(t *testing.T) {
	t.Parallel()
	c := vaulttest.StartCluster(t)
	ctx := t.Context()
	e := &env{t: t, vc: c.Client(), root: c.Root(), addr: c.Nodes[0].Addr}
	l := vaulttest.DefaultLayout
	l.SharedState = true
	agents := []string{"alice", "bob", "carol"}
	var as []setup.AgentSetup
	for _, a := range agents {
		as = append(as, setup.AgentSetup{Name: setup.Agent(a)})
	}
	// Setup is many writes; on a busy machine a leader may step down under
	// it, and running setup again is what an operator would do.
	var err error
	for range 3 {
		if e.res, err = setup.Apply(ctx, e.vc, e.root, setup.Options{Layout: l, Agents: as, Brokered: true}); err == nil {
			break
		}
		t.Logf("setup: %v; again", err)
		if err := c.WaitHealthy(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := `http: {stateless: true}
auth:
  api_keys:
`
	for _, a := range agents {
		if _, err := e.vc.KVWrite(ctx, e.root, "secret", "agent/"+a+"/db", map[string]any{"password": "pw-of-" + a}); err != nil {
			t.Fatal(err)
		}
		cfg += "    - {id: " + a + "-key, agent: " + a + ", sha256: " + sha(raftKey(a)) + ", scopes: [read, list, write]}\n"
	}
	d := duotest.Start(t)
	d.SetUser("ada", duotest.User{Script: duotest.Script{Answer: duotest.Allow, AfterPolls: 1}})
	cfg = replicaDuoConfig(t, d) + cfg + `agents: [{name: alice}, {name: bob}, {name: carol}]
limits: {rate: {per_minute: 1000000, burst: 100000}, approvals: {per_minute: 1000, burst: 1000}}
state: {backend: vault, revalidate: 1s, poll: 100ms, heartbeat: 1s}
`
	// Replica i talks to node i only: the configuration takes one address.
	var reps []*httpServer
	for _, n := range c.Nodes {
		reps = append(reps, e.serveReplica(cfg, d, "VAULT_ADDR="+n.Addr, fmt.Sprintf("GATEKEEPER_WRITE_TTL=%s", raftWriteTTL),
			"GATEKEEPER_OPERATOR_TOKEN="+operatorToken, "GATEKEEPER_STATUS_ADDR=127.0.0.1:0"))
	}
	sessions := map[string][]*mcp.ClientSession{}
	for _, a := range agents {
		for _, h := range reps {
			sessions[a] = append(sessions[a], connectAs(t, raftKey(a), h.url, newBalancer(h)))
		}
		// The first read asks the human (a push); the others take the
		// grant from the store.
		for i, cs := range sessions[a] {
			readAs(t, cs, a, fmt.Sprintf("replica %d", i))
		}
	}
	if n := d.PushCount(); n != 3 {
		t.Fatalf("pushes after the first reads = %d, want 3 (one per agent)", n)
	}

	// Light load: alice and bob read through every replica in a loop.
	// carol is the agent whose grant the operator revokes.
	loaded := agents[:2]
	log := &loadLog{lastOK: map[string]time.Time{}, longest: make([]time.Duration, len(reps))}
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range loaded {
		for i, cs := range sessions[a] {
			wg.Go(func() {
				for {
					select {
					case <-stopLoad:
						return
					case <-time.After(150 * time.Millisecond):
					}
					r := callOn(t, cs, "read_secret", map[string]any{"path": "db"})
					log.record(a, i, !r.isError && strings.Contains(r.text, "pw-of-"+a))
				}
			})
		}
	}
	endLoad := sync.OnceFunc(func() { close(stopLoad); wg.Wait() })
	defer endLoad()
	waitFor(t, 30*time.Second, func() bool { return log.allServedSince(time.Now().Add(-time.Second), loaded, len(reps)) })

	nodeIndex := func(n *vaulttest.Node) int {
		for i, m := range c.Nodes {
			if m == n {
				return i
			}
		}
		t.Fatalf("node %s is not the cluster's", n.ID)
		return -1
	}
	// servedAgain waits until every replica serves every loaded agent after
	// since, and returns how long that took.
	servedAgain := func(what string, since time.Time) time.Duration {
		t.Helper()
		for !log.allServedSince(since, loaded, len(reps)) {
			if time.Since(since) > raftServeBound {
				t.Fatalf("after %s, not every replica served within %s", what, raftServeBound)
			}
			time.Sleep(50 * time.Millisecond)
		}
		took := time.Since(since)
		t.Logf("after %s every replica served again within %s", what, took.Round(10*time.Millisecond))
		return took
	}

	// 1. SIGKILL the leader. A new one takes over; meanwhile bob earns write
	// access through a replica whose node lives. Then the old leader comes
	// back (sealed, as a real node does) and is unsealed.
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	leader.Kill()
	next, err := c.WaitNewLeader(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILL %s: %s leads after %s", leader.ID, next.ID, time.Since(killedAt).Round(10*time.Millisecond))
	e.vc = next.Client // the test's own checks go to a live node
	bob := sessions["bob"][nodeIndex(next)]
	if r := callOn(t, bob, "escalate", map[string]any{"reason": "rotate"}); r.isError {
		t.Fatalf("bob's escalate during the failover: %s", r.text)
	}
	if r := callOn(t, bob, "write_secret", map[string]any{"path": "db", "data": map[string]any{"password": "pw-of-bob"}}); r.isError {
		t.Fatalf("bob's write during the failover: %s", r.text)
	}
	write := storedGrant(t, e, "bob", access.Write)
	if write == nil || !tokenWorks(t, e, write) {
		t.Fatal("bob's write grant is not in the store, or its token does not work")
	}
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatal(err)
	}
	afterKill := servedAgain("the killed leader's restart", time.Now())

	// 2. SIGSTOP the (new) leader: it neither answers nor steps down. Once
	// another node leads, the operator revokes carol through a replica
	// whose node answers; then the stopped node continues (SIGCONT).
	leader, err = c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	carol := storedGrant(t, e, "carol", access.Read)
	if carol == nil || !tokenWorks(t, e, carol) {
		t.Fatal("carol's read grant is not in the store, or its token does not work")
	}
	if err := leader.Pause(); err != nil {
		t.Fatal(err)
	}
	pausedAt := time.Now()
	next, err = c.WaitNewLeader(ctx, leader)
	if err != nil {
		_ = leader.Resume()
		t.Fatal(err)
	}
	t.Logf("SIGSTOP %s: %s leads after %s", leader.ID, next.ID, time.Since(pausedAt).Round(10*time.Millisecond))
	ops := signIn(t, reps[nodeIndex(next)])
	if page := ops.post(t, "/revoke-agent", url.Values{"principal": {"carol"}}); !strings.Contains(page, "Revoked in Vault") {
		_ = leader.Resume()
		t.Fatalf("revoking carol during the partition: %s", page)
	}
	time.Sleep(5 * time.Second)
	if err := leader.Resume(); err != nil {
		t.Fatal(err)
	}
	stopped := leader
	// The revocation holds at once on the nodes that were not stopped and
	// through the replicas that talk to them.
	waitFor(t, 10*time.Second, func() bool { return revokedVia(t, c, sessions["carol"], carol, stopped) })
	// The node that was stopped may not: its Raft layer steps down, but
	// Vault's core can stay active and serve its own stale state, revoked
	// token included, for as long as it runs (hashicorp/vault#18117; seen
	// here for over 150s). Restarting that node is the remedy. It is
	// given a few seconds first: a node that steps down properly forwards
	// to the new leader by then.
	time.Sleep(3 * time.Second)
	if _, err := stopped.Client.LookupSelf(ctx, carol.Token); err == nil {
		t.Logf("%s, back from SIGSTOP, still accepts a token revoked while it was stopped; restarting it", stopped.ID)
		stopped.Kill()
		if err := c.Restart(ctx, stopped); err != nil {
			t.Fatal(err)
		}
	}
	backAt := time.Now()
	waitFor(t, raftServeBound, func() bool { return revokedVia(t, c, sessions["carol"], carol, nil) })
	afterStop := servedAgain("the stopped leader's return", backAt)
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}

	// No access outlives its revocation or its expiry: the tokens are dead
	// in Vault and no replica serves with them.
	if tokenWorks(t, e, carol) || e.tokenAlive(carol.Accessor) {
		t.Error("carol's revoked grant still works in Vault")
	}
	if time.Until(write.ExpiresAt) > raftWriteTTL {
		t.Fatalf("bob's write grant ends at %s, later than its TTL", write.ExpiresAt)
	}
	time.Sleep(time.Until(write.ExpiresAt.Add(time.Second)))
	if tokenWorks(t, e, write) {
		t.Error("bob's expired write grant still works in Vault")
	}
	for i, cs := range sessions["bob"] {
		if r := callOn(t, cs, "write_secret", map[string]any{"path": "db", "data": map[string]any{"password": "late"}}); !r.isError {
			t.Errorf("bob wrote through replica %d after his write grant expired", i)
		}
	}
	endLoad()

	// No grant lost or duplicated: each loaded agent's grant in the store is
	// the one issued once, alive in Vault, and the one every replica used
	// for the last reads.
	evs := auditOf(t, reps...)
	for _, a := range loaded {
		g := storedGrant(t, e, a, access.Read)
		if g == nil || !tokenWorks(t, e, g) {
			t.Fatalf("%s's read grant is not in the store or its token does not work", a)
		}
		acc := g.Accessor
		issued := eventsOf(evs, "grant.issued", a, "read")
		if len(issued) != 1 || issued[0]["accessor"] != acc {
			t.Errorf("%s's read grants issued: %v, want one, %s", a, issued, acc)
		}
		for i, h := range reps {
			reads := eventsOf(h.auditEvents(t), "tool.call", a, "read")
			if len(reads) == 0 || reads[len(reads)-1]["accessor"] != acc {
				t.Errorf("replica %d's last read for %s used another grant than the store's %s", i, a, acc)
			}
		}
	}
	// At most one approval per agent and tier: one each, and no more
	// pushes than that.
	for _, at := range [][2]string{{"alice", "read"}, {"bob", "read"}, {"carol", "read"}, {"bob", "write"}} {
		if n := len(eventsOf(evs, "approval.requested", at[0], at[1])); n != 1 {
			t.Errorf("approvals for %s's %s = %d, want 1", at[0], at[1], n)
		}
	}
	if n := d.PushCount(); n != 4 {
		t.Errorf("pushes = %d, want 4", n)
	}
	t.Logf("serving again: %s after the kill, %s after the stop; longest time each replica served no read: %v; failed reads: %d",
		afterKill.Round(10*time.Millisecond), afterStop.Round(10*time.Millisecond), log.longest, log.fails)
	for i, gap := range log.longest {
		if gap > raftOutageBound {
			t.Errorf("replica %d served no read for %s, longer than %s", i, gap, raftOutageBound)
		}
	}
	for _, h := range reps {
		logs, _ := os.ReadFile(h.audit)
		if strings.Contains(string(logs), "hvs.") || strings.Contains(h.stderr.String(), "hvs.") {
			t.Error("a token reached a replica's audit or debug log")
		}
		if strings.Contains(h.stderr.String(), "DATA RACE") {
			t.Errorf("a replica reported a data race:\n%s", h.stderr)
		}
	}
}

// readAs reads agent's secret through cs, which must succeed.
func readAs(t *testing.T, cs *mcp.ClientSession, agent, via string) {
	t.Helper()
	if r := callOn(t, cs, "read_secret", map[string]any{"path": "db"}); r.isError || !strings.Contains(r.text, "pw-of-"+agent) {
		t.Fatalf("%s's read through %s: %s", agent, via, r.text)
	}
}

// storedGrant is principal's grant for tier as the store holds it, its
// token from the seal, read as root through the store's own code; nil if
// there is none.
func storedGrant(t *testing.T, e *env, principal string, tier access.Tier) *access.Grant {
	t.Helper()
	st, err := vaultstate.New(vaultstate.Options{Vault: e.vc, Token: func() sensitive.String { return e.root },
		KVMount: "secret", Folder: setup.StateFolder, TransitMount: "transit", Key: setup.StateKey})
	if err != nil {
		t.Fatal(err)
	}
	sl, err := st.Load(t.Context(), access.Principal(principal), tier)
	if err != nil {
		t.Fatal(err)
	}
	if sl.Grant == nil {
		return nil
	}
	g, err := st.Unseal(t.Context(), sl)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// revokedVia reports whether g's token is refused by every node but
// except, and carol's read refused through every replica whose node is
// not except (replica i talks to node i).
func revokedVia(t *testing.T, c *vaulttest.Cluster, carol []*mcp.ClientSession, g *access.Grant, except *vaulttest.Node) bool {
	t.Helper()
	for i, n := range c.Nodes {
		if n == except {
			continue
		}
		if _, err := n.Client.LookupSelf(t.Context(), g.Token); err == nil {
			return false
		}
		if r := callOn(t, carol[i], "read_secret", map[string]any{"path": "db"}); !r.isError || !strings.Contains(r.text, "Call authenticate") {
			return false
		}
	}
	return true
}

// tokenWorks asks Vault, with the token itself, whether it is accepted:
// lookup-accessor still lists an expired token until Vault reaps it, a
// use does not accept it.
func tokenWorks(t *testing.T, e *env, g *access.Grant) bool {
	t.Helper()
	_, err := e.vc.LookupSelf(t.Context(), g.Token)
	return err == nil
}

// eventsOf is the events named name for principal and tier.
func eventsOf(evs []map[string]any, name, principal, tier string) []map[string]any {
	var out []map[string]any
	for _, ev := range evs {
		if ev["event"] == name && ev["principal"] == principal && ev["tier"] == tier {
			out = append(out, ev)
		}
	}
	return out
}
