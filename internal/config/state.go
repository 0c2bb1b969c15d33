package config

import (
	"fmt"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

// State says where grants and pending approvals live: in this process
// (memory, the default), or shared by several replicas through the
// Vault/OpenBao cluster itself (vault; docs/replicas.md). Setup must have
// given Gatekeeper's own identity the state folder and key (gatekeeper
// setup --replicas, or this section in the config file setup reads).
type State struct {
	Backend string `yaml:"backend"` // memory (default) or vault
	// Revalidate is how long a replica uses a grant it holds without
	// asking the store again; it bounds how late a replica notices a
	// grant ended elsewhere, and how long it serves one while the store
	// does not answer. 0 asks on every call.
	Revalidate time.Duration `yaml:"revalidate"`
	// Poll is how often a replica waiting on another's approval looks.
	Poll time.Duration `yaml:"poll"`
	// Heartbeat is how often a replica says it is alive; three missed
	// beats and it counts as gone.
	Heartbeat time.Duration `yaml:"heartbeat"`
}

// State backends.
const (
	StateMemory = "memory"
	StateVault  = "vault"
)

func defaultState() State {
	return State{Backend: StateMemory, Revalidate: access.DefaultRevalidate, Poll: access.DefaultPoll, Heartbeat: access.DefaultHeartbeat}
}

// SharedState tells whether replicas share grants through Vault.
func (c Config) SharedState() bool { return c.State.Backend == StateVault }

func (c Config) validateState() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s := c.State
	if s.Backend != StateMemory && s.Backend != StateVault {
		add("GATEKEEPER_STATE_BACKEND (state.backend) %q is not memory or vault", s.Backend)
	}
	if s.Revalidate < 0 || s.Revalidate > time.Minute {
		add("GATEKEEPER_STATE_REVALIDATE (state.revalidate) must be between 0 and 1m (got %s)", s.Revalidate)
	}
	if s.Poll < 50*time.Millisecond || s.Poll > 10*time.Second {
		add("state.poll must be between 50ms and 10s (got %s)", s.Poll)
	}
	if s.Heartbeat < time.Second || s.Heartbeat > 5*time.Minute {
		add("state.heartbeat must be between 1s and 5m (got %s)", s.Heartbeat)
	}
	return errs
}
