package soak

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
)

// Options configure a run. Gatekeeper, Vault, Dir and Duo are required.
type Options struct {
	Gatekeeper string // the gatekeeper binary
	Vault      string // the Vault server binary
	Dir        string // configs, logs and the audit trail go here
	// Duration of the load with faults; default 3 minutes. Checks and the
	// wait for leftover tokens to expire come after it.
	Duration time.Duration
	Agents   int           // default 100
	Interval time.Duration // between one agent's calls; default 1s
	ReadTTL  time.Duration // default 45s: several renewals in a run
	WriteTTL time.Duration // default 15s
	Duo      Duo
	Logf     func(format string, args ...any)
}

// Duo is the Duo Auth API the brokered approver asks (in the soak, the
// local fake): Enroll decides what the human of one agent answers.
type Duo struct {
	Host           string
	IntegrationKey string
	SecretKey      string
	CAPEM          []byte
	Enroll         func(username string, approve bool)
}

func (o *Options) defaults() error {
	if o.Duration == 0 {
		o.Duration = 3 * time.Minute
	}
	if o.Agents == 0 {
		o.Agents = 100
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.ReadTTL == 0 {
		o.ReadTTL = 45 * time.Second
	}
	if o.WriteTTL == 0 {
		o.WriteTTL = 15 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	var errs []error
	if o.Gatekeeper == "" || o.Vault == "" || o.Dir == "" {
		errs = append(errs, errors.New("soak: Gatekeeper, Vault and Dir are required"))
	}
	if o.Duo.Host == "" || o.Duo.Enroll == nil {
		errs = append(errs, errors.New("soak: a Duo API (host, keys, Enroll) is required"))
	}
	if o.Duration < 45*time.Second {
		errs = append(errs, errors.New("soak: the duration must be at least 45s (three faults with time to recover)"))
	}
	if o.Agents < 3 {
		errs = append(errs, errors.New("soak: at least 3 agents (one of each kind)"))
	}
	return errors.Join(errs...)
}

// run is one soak in progress.
type run struct {
	o        Options
	ctx      context.Context
	vault    *VaultServer
	gk       *Gatekeeper
	fleet    *Fleet
	rec      *Recorder
	specs    []AgentSpec
	canaries map[string]string
	needles  []Needle
	audit    string
	auditKey string
	report   *Report
	f        *findings
	// leftovers are the tokens found alive outside a live grant of the
	// running process, by accessor, as first seen.
	leftovers map[string]bool
}

// Run sets everything up, runs the fleet while injecting faults, checks,
// and returns the report. An error means the run itself could not be
// carried out; broken promises are the report's Violations.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	r := &run{o: o, ctx: ctx, rec: &Recorder{}, canaries: map[string]string{}, f: newFindings(), leftovers: map[string]bool{},
		audit: filepath.Join(o.Dir, "audit.jsonl")}
	r.report = &Report{Started: time.Now(), Options: o, Machine: fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())}
	defer func() {
		if r.vault != nil {
			r.vault.Stop()
		}
	}()
	if err := r.prepare(); err != nil {
		return nil, err
	}
	err := r.load()
	if err == nil {
		err = r.finish()
	}
	if err != nil {
		if r.fleet != nil {
			r.fleet.Stop()
		}
		if r.gk != nil {
			r.gk.Kill()
		}
		return nil, err
	}
	r.report.Violations = r.f.violations
	r.report.Counts = r.f.count
	r.report.Ran = r.f.ran
	r.report.Ended = time.Now()
	return r.report, nil
}

// prepare starts Vault, sets it up for the agents and starts Gatekeeper.
func (r *run) prepare() error {
	o := r.o
	v, err := StartVault(r.ctx, o.Vault, filepath.Join(o.Dir, "vault"))
	if err != nil {
		return err
	}
	r.vault = v
	if h, err := v.Client().Health(r.ctx); err == nil {
		r.report.VaultVersion = h.Version
	}
	r.specs = fleetSpecs(o.Agents)
	var agents []setup.AgentSetup
	for _, s := range r.specs {
		agents = append(agents, setup.AgentSetup{Name: setup.Agent(s.Name)})
	}
	layout := setup.Layout{KVMount: "secret", Prefix: "agent", TransitMount: "transit", ReadTTL: o.ReadTTL, WriteTTL: o.WriteTTL}
	o.Logf("setting up Vault for %d agents", len(r.specs))
	res, err := setup.Apply(r.ctx, v.Client(), v.Root(), setup.Options{Layout: layout, Agents: agents, Brokered: true})
	if err != nil {
		return fmt.Errorf("setting up Vault: %w", err)
	}
	r.auditKey = randomKey()
	r.needles = []Needle{
		{"the root token", v.Root().Reveal()},
		{"Gatekeeper's broker token", res.BrokerToken.Reveal()},
		{"the Duo secret key", o.Duo.SecretKey},
		{"the audit key", r.auditKey},
	}
	var keys, agentLines strings.Builder
	for i := range r.specs {
		s := &r.specs[i]
		r.canaries[s.Name] = NewCanary(s.Name)
		for path, data := range map[string]map[string]any{
			"db":    {"password": r.canaries[s.Name]},
			"notes": {"text": "not a secret"},
		} {
			if _, err := v.Client().KVWrite(r.ctx, v.Root(), "secret", "agent/"+s.Name+"/"+path, data); err != nil {
				return fmt.Errorf("planting secrets: %w", err)
			}
		}
		if s.Key, err = clientauth.NewKey(); err != nil {
			return err
		}
		r.needles = append(r.needles, Needle{"the API key of " + s.Name, s.Key})
		scopes := "[read, list, write]"
		if s.Kind == Reader {
			scopes = "[read, list]"
		}
		fmt.Fprintf(&keys, "    - {id: key-%s, agent: %s, sha256: %s, scopes: %s}\n", s.Name, s.Name, clientauth.HashKey(s.Key), scopes)
		fmt.Fprintf(&agentLines, "  - {name: %s}\n", s.Name)
		o.Duo.Enroll(s.Name, s.Kind != Denied)
	}
	caFile := filepath.Join(o.Dir, "duo-ca.pem")
	if err := os.WriteFile(caFile, o.Duo.CAPEM, 0o600); err != nil {
		return fmt.Errorf("writing the Duo CA: %w", err)
	}
	config := fmt.Sprintf(`read_ttl: %s
write_ttl: %s
approval_timeout: 20s
audit_file: %s
log_level: debug
http:
  session_timeout: 10m
auth:
  api_keys:
%sagents:
%sapproval:
  strategy: brokered
  approver: duo
  cooldown: 20s
  duo: {host: %q, integration_key: %q, ca_file: %q}
limits:
  rate: {per_minute: 100000, burst: 10000}
  approvals: {per_minute: 600, burst: 100}
`, o.ReadTTL, o.WriteTTL, r.audit, keys.String(), agentLines.String(), o.Duo.Host, o.Duo.IntegrationKey, caFile)
	configPath := filepath.Join(o.Dir, "gatekeeper.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return fmt.Errorf("writing the Gatekeeper config: %w", err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"VAULT_ADDR=" + v.Addr(),
		"VAULT_TOKEN=" + res.BrokerToken.Reveal(),
		"GATEKEEPER_AUDIT_KEY=" + r.auditKey,
		"GATEKEEPER_DUO_SECRET_KEY=" + o.Duo.SecretKey,
	}
	if r.gk, err = NewGatekeeper(o.Gatekeeper, o.Dir, configPath, env); err != nil {
		return err
	}
	if out, err := exec.Command(o.Gatekeeper, "version").Output(); err == nil {
		r.report.GatekeeperVersion = strings.TrimSpace(string(out))
	}
	return r.gk.Start(r.ctx)
}

// fleetSpecs makes n agents: a tenth read-only, a tenth whose human denies
// everything, the rest writers; every other agent on the session protocol.
func fleetSpecs(n int) []AgentSpec {
	specs := make([]AgentSpec, n)
	for i := range specs {
		kind := Writer
		switch i % 10 {
		case 8:
			kind = Reader
		case 9:
			kind = Denied
		}
		specs[i] = AgentSpec{Name: fmt.Sprintf("a%03d", i), Kind: kind, Sessions: i%2 == 0, Other: fmt.Sprintf("a%03d", (i+1)%n)}
	}
	// Small fleets still get one of each kind.
	if n < 10 {
		specs[n-2].Kind, specs[n-1].Kind = Reader, Denied
	}
	return specs
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// plan spreads the faults over the duration: a warm-up, then one slot per
// fault, then a quiet tail.
type plan struct {
	warmup, slot, tail time.Duration
	faults             []string
}

func makePlan(d time.Duration) plan {
	p := plan{warmup: min(20*time.Second, d/5), tail: min(15*time.Second, d/8)}
	rest := d - p.warmup - p.tail
	n := max(3, int(rest/(30*time.Second)))
	p.slot = rest / time.Duration(n)
	if n == 3 {
		// Gatekeeper first, so the process it restarts lives through both
		// Vault faults and its growth is measured across them.
		p.faults = []string{FaultGatekeeperKill, FaultVaultRestart, FaultVaultSeal}
	} else {
		cycle := []string{FaultVaultRestart, FaultVaultSeal, FaultGatekeeperKill}
		for i := range n {
			p.faults = append(p.faults, cycle[i%3])
		}
	}
	return p
}

// faultDown is how long each fault stays in place before repair.
const faultDown = 4 * time.Second

// load runs the fleet through the plan.
func (r *run) load() error {
	o := r.o
	p := makePlan(o.Duration)
	r.report.Plan = p
	r.fleet = NewFleet(r.specs, r.canaries, r.gk.URL(), o.Interval, r.rec)
	r.fleet.Start(r.ctx)
	o.Logf("fleet of %d agents started; faults: %s", len(r.specs), strings.Join(p.faults, ", "))
	start := time.Now()
	if err := r.sleep(p.warmup / 2); err != nil {
		return err
	}
	if err := r.atRest("warm-up", true); err != nil {
		return err
	}
	if err := r.sleep(time.Until(start.Add(p.warmup))); err != nil {
		return err
	}
	if err := r.atRest("before the first fault", true); err != nil {
		return err
	}
	for i, kind := range p.faults {
		slotEnd := start.Add(p.warmup + time.Duration(i+1)*p.slot)
		w, err := r.inject(kind)
		if err != nil {
			return err
		}
		r.report.Faults = append(r.report.Faults, w)
		o.Logf("%s: down %s to %s, recovered %s", kind, stamp(w.Start), stamp(w.End), stamp(w.Recovered))
		if kind == FaultGatekeeperKill {
			// What the killed process left in Vault, before it expires; the
			// new process has barely started, so its usage does not count.
			if err := r.atRest("just after "+kind, false); err != nil {
				return err
			}
		}
		if err := r.sleep(time.Until(slotEnd)); err != nil {
			return err
		}
		if err := r.atRest("after "+kind, true); err != nil {
			return err
		}
	}
	if err := r.sleep(time.Until(start.Add(o.Duration))); err != nil {
		return err
	}
	return r.atRest("end", true)
}

func (r *run) sleep(d time.Duration) error {
	if d <= 0 {
		return r.ctx.Err()
	}
	select {
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// inject puts one fault in place, holds it, repairs it and says when.
func (r *run) inject(kind string) (Fault, error) {
	w := Fault{Kind: kind, Epoch: r.gk.Epoch()}
	switch kind {
	case FaultVaultRestart:
		r.vault.Kill()
		w.Start = time.Now()
		if err := r.sleep(faultDown); err != nil {
			return w, err
		}
		if err := r.vault.Restart(r.ctx); err != nil {
			return w, err
		}
		w.End = time.Now() // it answers again, sealed, until unsealed
		if err := r.vault.Unseal(r.ctx); err != nil {
			return w, err
		}
	case FaultVaultSeal:
		if err := r.vault.Seal(r.ctx); err != nil {
			return w, err
		}
		w.Start = time.Now()
		if err := r.sleep(faultDown); err != nil {
			return w, err
		}
		w.End = time.Now()
		if err := r.vault.Unseal(r.ctx); err != nil {
			return w, err
		}
	case FaultGatekeeperKill:
		r.gk.Kill()
		w.Start = time.Now()
		if err := r.sleep(faultDown / 2); err != nil {
			return w, err
		}
		w.End = time.Now()
		if err := r.gk.Start(r.ctx); err != nil {
			return w, err
		}
		// A new process holds nothing: every grant died with the old one
		// (its tokens live on in Vault until their TTL, unusable by anyone).
		r.f.pass(CheckRestartEmpty)
		if u, err := r.gk.Usage(r.ctx); err == nil && u.LiveGrants != 0 {
			r.f.fail(CheckRestartEmpty, "process %d started with %d live grants", u.Epoch, u.LiveGrants)
		}
	default:
		return w, fmt.Errorf("unknown fault %q", kind)
	}
	w.Recovered = time.Now()
	return w, nil
}

// headLine finds the chain head serve logs when it stops.
var headLine = regexp.MustCompile(`audit log closed.*head[="]+([0-9a-f]{64})`)
