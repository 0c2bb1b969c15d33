package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaultstate"
)

// sharedState is the replicas' shared store (state.backend: vault), or nil
// for one process. It is checked now, so that a replica whose identity
// lacks the state policy or key fails at start, not at the first approval.
func sharedState(ctx context.Context, cfg config.Config, vc *vault.Client, token func() sensitive.String, logger *slog.Logger) (*vaultstate.Store, access.SharedOptions, error) {
	o := access.SharedOptions{Replica: replicaID(), Revalidate: cfg.State.Revalidate, Poll: cfg.State.Poll, Heartbeat: cfg.State.Heartbeat}
	if !cfg.SharedState() {
		return nil, o, nil
	}
	st, err := vaultstate.New(vaultstate.Options{
		Vault: vc, Token: token, KVMount: cfg.KVMount, Folder: setup.StateFolder,
		TransitMount: cfg.Layout().Transit(), Key: setup.StateKey, Logger: logger.With("component", "state"),
	})
	if err == nil {
		err = st.Check(ctx)
	}
	if err != nil {
		return nil, o, fmt.Errorf("state.backend vault: %w (run gatekeeper setup --replicas with this configuration)", err)
	}
	logger.Info("sharing grants and pending approvals with other replicas through Vault",
		"replica", o.Replica, "folder", cfg.KVMount+"/"+setup.StateFolder, "revalidate", cfg.State.Revalidate)
	return st, o, nil
}

var notInID = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// replicaID names this process among the replicas: its host name (the pod's
// name on Kubernetes) and a random suffix, since a restarted pod may keep
// its name.
func replicaID() string {
	host, _ := os.Hostname()
	host = strings.Trim(notInID.ReplaceAllString(host, "-"), "-.")
	if len(host) > 100 {
		host = host[:100]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if host == "" {
		return "rep-" + hex.EncodeToString(b)
	}
	return host + "-" + hex.EncodeToString(b)
}
