package soak

import (
	"sync"
	"time"
)

// Kind is what an agent may do and what its human answers.
type Kind string

const (
	Writer Kind = "writer" // scopes read, list, write; the human approves
	Reader Kind = "reader" // scopes read, list; the human approves
	Denied Kind = "denied" // scopes read, list, write; the human denies everything
)

// Call is one tool call as the agent saw it.
type Call struct {
	Agent string
	Kind  Kind
	Tool  string
	Path  string
	Start time.Time
	End   time.Time
	OK    bool   // the tool answered without an error
	Proto bool   // the call failed below the tool: connection, session, protocol
	Msg   string // the error the agent read, shortened
	// Value is what read_secret returned in the password field.
	Value string
}

// Fault is one injected fault. From Start to End the fault was in place
// (Vault down or sealed, Gatekeeper gone): a call made entirely inside
// that window must not succeed.
type Fault struct {
	Kind      string
	Start     time.Time
	End       time.Time // recovery began
	Recovered time.Time // Vault serving again, or Gatekeeper listening again
	// Epoch is the Gatekeeper process that served before the fault.
	Epoch int
}

// Fault kinds.
const (
	FaultVaultRestart   = "vault-restart"   // SIGKILL Vault, start it again, unseal
	FaultVaultSeal      = "vault-seal"      // seal through the API, then unseal
	FaultGatekeeperKill = "gatekeeper-kill" // SIGKILL Gatekeeper, start a new process
)

// Recorder keeps every call of the run.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

// Add records a call.
func (r *Recorder) Add(c Call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// Calls returns the calls recorded so far.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}
