//go:build soak

package soak

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo/duotest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
)

var (
	duration = flag.Duration("soak.duration", 3*time.Minute, "how long the agents work while faults are injected")
	agents   = flag.Int("soak.agents", 100, "how many agents")
	interval = flag.Duration("soak.interval", time.Second, "time between one agent's calls")
	readTTL  = flag.Duration("soak.read-ttl", 45*time.Second, "read grant length")
	writeTTL = flag.Duration("soak.write-ttl", 15*time.Second, "write grant length")
	report   = flag.String("soak.report", "", "also write the markdown report to this file")
	keep     = flag.String("soak.keep", "", "keep configs, logs and the audit trail in this folder (created)")
	race     = flag.Bool("soak.race", false, "build gatekeeper with the race detector")
)

// TestSoak is the soak with faults (scripts/soak runs it). It prints the
// report and fails on any violation.
func TestSoak(t *testing.T) {
	vaultBin, err := devvault.Find()
	if errors.Is(err, devvault.ErrNoBinary) {
		t.Fatalf("%v\nRun scripts/soak, which builds Vault first.", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if *keep != "" {
		dir = *keep
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "gatekeeper")
	args := []string{"build", "-o", bin}
	if *race {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/gatekeeper-mcp/gatekeeper/cmd/gatekeeper")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building gatekeeper: %v", err)
	}

	d := duotest.Start(t)
	rep, err := Run(t.Context(), Options{
		Gatekeeper: bin,
		Vault:      vaultBin,
		Dir:        dir,
		Duration:   *duration,
		Agents:     *agents,
		Interval:   *interval,
		ReadTTL:    *readTTL,
		WriteTTL:   *writeTTL,
		Duo: Duo{
			Host: d.Host, IntegrationKey: d.IKey, SecretKey: d.SKey, CAPEM: d.CertificatePEM(),
			Enroll: func(name string, approve bool) {
				answer := duotest.Allow
				if !approve {
					answer = duotest.Deny
				}
				d.SetUser(name, duotest.User{Script: duotest.Script{Answer: answer}})
			},
		},
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("the soak could not run: %v (work folder %s)", err, dir)
	}
	md := rep.Markdown()
	fmt.Println(md)
	if *report != "" {
		if err := os.WriteFile(*report, []byte(md), 0o644); err != nil {
			t.Error(err)
		}
	}
	if !rep.Passed() {
		t.Errorf("the soak found %d violations (work folder %s)", len(rep.Violations), dir)
	}
}
