package access

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Shared state: what several Gatekeeper replicas behind one load balancer
// keep in common so that an agent is asked once, whichever replica its
// calls reach. Without it (Options.Shared nil) the Manager is what it has
// always been: one process, everything in memory.
//
// The unit of sharing is a Slot: one per principal and tier, written only
// by check-and-set, so that every change of it (a claim of the pending
// approval, a grant published, a grant ended, a cool-down started) is made
// by exactly one replica. Each replica keeps its own cache in front of the
// store (the grants it holds in memory, with their tokens and expiry
// timers) and revalidates a cached grant against the store at most every
// SharedOptions.Revalidate: that interval bounds how long another replica
// may still serve a grant that was released, logged out or revoked here.
//
// One rule keeps the audit trail and Vault in step: the replica whose
// check-and-set removes a grant from the store is the one that revokes its
// token and records why. Every other replica only forgets its copy.

// Shared is where replicas keep their slots and heartbeats.
type Shared interface {
	// Load returns p's slot at t; one never written has Version 0.
	Load(ctx context.Context, p Principal, t Tier) (Slot, error)
	// Store writes s if the stored version is still s.Version (0: none
	// yet), or fails with ErrSlotConflict. It returns s as stored, with
	// its new Version. A Grant with a token is sealed afresh; a Grant
	// without one keeps s.Sealed.
	Store(ctx context.Context, s Slot) (Slot, error)
	// List returns every slot (the operator's view, the last replica out).
	List(ctx context.Context) ([]Slot, error)
	// Unseal returns the grant sealed in s, token included, or
	// ErrSlotUnreadable when the record cannot be trusted.
	Unseal(ctx context.Context, s Slot) (*Grant, error)
	// Beat says that replica is alive until until; a time already past
	// says it left.
	Beat(ctx context.Context, replica string, until time.Time) error
	// Replicas returns every replica's last word: alive until when.
	Replicas(ctx context.Context) (map[string]time.Time, error)
}

// Slot is everything the replicas share about one principal at one tier.
type Slot struct {
	Principal Principal
	Tier      Tier
	// Version is the store's, for check-and-set; 0: never written.
	Version int64
	// Grant is the live (or lately live) grant. Loaded, it carries no
	// token: Unseal gives the token, from Sealed.
	Grant  *Grant
	Sealed string // the store's sealed form of Grant; opaque here
	// Claim is the approval pending for this slot, and who runs it.
	Claim *Claim
	// Last is how the last claim ended, for the replicas that waited on it.
	Last *Outcome
	// CoolUntil: after a denial, no new request reaches the human before.
	CoolUntil time.Time
	// AutoSpent (read slot): a read started an approval that did not
	// succeed; reads ask nobody until the agent authenticates.
	AutoSpent bool
	// Revoked: an operator ended the access at this tier, and no grant
	// since gave it back (principalState.revoked).
	Revoked bool
}

// Claim is one replica's right to run the approval of a slot. It ends by
// itself at Expires (plus a grace to publish the result): a replica that
// died holds nobody up for longer.
type Claim struct {
	ApprovalID string
	Replica    string
	Reason     string
	Trigger    string
	Paths      []string
	Expires    time.Time
	// Auto: started by a read, not by the agent asking.
	Auto bool
}

// Outcome is how a claim ended.
type Outcome struct {
	ApprovalID string
	Result     string // one of the Result* constants
}

// Results of a claim.
const (
	ResultApproved         = "approved"
	ResultDenied           = "denied"
	ResultTimedOut         = "timed_out"
	ResultPasscodeRequired = "passcode_required"
	ResultFailed           = "failed"
	ResultRevoked          = "revoked"
	ResultLoggedOut        = "logged_out"
	ResultOperatorDenied   = "operator_denied"
	// ResultHandedOver: the replica running it stopped before an answer;
	// a replica whose caller still waits claims the slot anew.
	ResultHandedOver = "handed_over"
)

var (
	// ErrSlotConflict: another replica wrote the slot first. Read it
	// again and decide again.
	ErrSlotConflict = errors.New("shared slot changed meanwhile")
	// ErrSlotUnreadable: a record that does not decrypt or parse, or does
	// not match where it is kept. It counts as absent.
	ErrSlotUnreadable = errors.New("shared record cannot be trusted")
	// ErrStateUnavailable: the shared store did not answer. Nothing is
	// granted and no grant that could not be revalidated is used.
	ErrStateUnavailable = errors.New("shared state is unavailable")
)

// SharedOptions tune a Manager with a shared store.
type SharedOptions struct {
	// Replica names this process among the replicas; default random.
	Replica string
	// Revalidate is how long a cached grant is used without asking the
	// store again (default 2s; 0 asks on every call). It bounds how late
	// this replica notices a grant ended elsewhere, and how long it keeps
	// serving a grant while the store does not answer: never longer.
	Revalidate time.Duration
	// Poll is how often a replica waiting on another's approval looks at
	// the slot (default 500ms).
	Poll time.Duration
	// Heartbeat is how often this replica says it is alive (default 10s);
	// it counts as gone after three missed beats.
	Heartbeat time.Duration
	// Timeout bounds each call to the store made on behalf of a caller
	// without a context (ForWrite, Status, Snapshot); default 10s.
	Timeout time.Duration
}

// Shared defaults.
const (
	DefaultRevalidate = 2 * time.Second
	DefaultPoll       = 500 * time.Millisecond
	DefaultHeartbeat  = 10 * time.Second
	defaultSharedTime = 10 * time.Second
	// claimGrace is how long after a claim's expiry its replica may still
	// publish the result; after it, the claim is dead.
	claimGrace = 15 * time.Second
	// casAttempts bounds the retries of one change lost to other replicas.
	casAttempts = 16
)

func (o *SharedOptions) defaults() {
	if o.Replica == "" {
		o.Replica = newID("rep_")
	}
	if o.Revalidate < 0 {
		o.Revalidate = 0
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultSharedTime
	}
}

// unavailable wraps a store error: the class says "no access", the cause
// (kept with %w) says why, for the agent's message and the debug log.
func unavailable(op string, err error) error {
	if errors.Is(err, ErrStateUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrStateUnavailable, op, err)
}

// resultOf is the Result a claim's error is published as.
func resultOf(err error) string {
	switch {
	case err == nil:
		return ResultApproved
	case errors.Is(err, ErrLoggedOut):
		return ResultLoggedOut
	case errors.Is(err, ErrRevoked):
		return ResultRevoked
	case errors.Is(err, ErrOperatorDenied):
		return ResultOperatorDenied
	case errors.Is(err, ErrDenied):
		return ResultDenied
	case errors.Is(err, ErrApprovalTimeout):
		return ResultTimedOut
	case errors.Is(err, ErrPasscodeRequired):
		return ResultPasscodeRequired
	}
	return ResultFailed
}

// errRemoteFailed is what waiting callers get when another replica's
// approval failed for a reason other than the human's answer.
var errRemoteFailed = errors.New("the approval failed on another replica")

// outcomeErr is the error a replica that waited on another's claim returns.
func outcomeErr(t Tier, result string) error {
	switch result {
	case ResultDenied:
		return ErrDenied
	case ResultTimedOut:
		return ErrApprovalTimeout
	case ResultPasscodeRequired:
		return ErrPasscodeRequired
	case ResultRevoked:
		return revokedErr(t)
	case ResultLoggedOut:
		return loggedOutErr(t)
	case ResultOperatorDenied:
		return &operatorDenial{}
	case ResultApproved:
		// Approved, and ended again before this replica saw it.
		if t == Write {
			return ErrWriteRequired
		}
		return ErrNotAuthenticated
	}
	return errRemoteFailed
}

// cutShortResult reports whether a claim was cut short by an operator or
// by logout (see cutShort).
func cutShortResult(result string) bool {
	return result == ResultRevoked || result == ResultLoggedOut || result == ResultOperatorDenied
}

// claimDead reports whether c's replica can no longer publish its result.
func claimDead(c *Claim, now time.Time) bool {
	return c != nil && now.After(c.Expires.Add(claimGrace))
}

// grantLive reports whether s holds a grant that is live at now.
func (s Slot) grantLive(now time.Time) bool { return s.Grant.liveAt(now) }
