package access

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// memShared is a shared store in memory for the model's tests: versions
// and check-and-set as in the Vault store, and tokens "sealed" into a map
// of their own, so that a loaded slot never carries one (the Vault store
// is tested against a real Vault in internal/vaultstate).
type memShared struct {
	mu     sync.Mutex
	slots  map[slotKey]Slot
	sealed map[string]*Grant
	beats  map[string]time.Time
	n      int
	// fail, if set, is what every call returns: a store that does not
	// answer.
	fail  error
	loads int
}

type slotKey struct {
	p Principal
	t Tier
}

func newMemShared() *memShared {
	return &memShared{slots: map[slotKey]Slot{}, sealed: map[string]*Grant{}, beats: map[string]time.Time{}}
}

var errStoreDown = errors.New("connection refused")

func (s *memShared) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *memShared) Load(_ context.Context, p Principal, t Tier) (Slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return Slot{}, s.fail
	}
	s.loads++
	sl, ok := s.slots[slotKey{p, t}]
	if !ok {
		return Slot{Principal: p, Tier: t}, nil
	}
	return copySlot(sl), nil
}

func (s *memShared) Store(_ context.Context, sl Slot) (Slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return Slot{}, s.fail
	}
	k := slotKey{sl.Principal, sl.Tier}
	if s.slots[k].Version != sl.Version {
		return Slot{}, ErrSlotConflict
	}
	sl = copySlot(sl)
	if sl.Grant != nil && !sl.Grant.Token.IsZero() {
		s.n++
		id := fmt.Sprintf("sealed-%d", s.n)
		s.sealed[id] = cloneGrant(sl.Grant)
		sl.Sealed = id
	}
	if sl.Grant != nil {
		sl.Grant.Token = sensitive.String{}
	} else {
		sl.Sealed = ""
	}
	sl.Version++
	s.slots[k] = sl
	return copySlot(sl), nil
}

func (s *memShared) List(context.Context) ([]Slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	var out []Slot
	for _, sl := range s.slots {
		out = append(out, copySlot(sl))
	}
	return out, nil
}

func (s *memShared) Unseal(_ context.Context, sl Slot) (*Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	g, ok := s.sealed[sl.Sealed]
	if !ok {
		return nil, ErrSlotUnreadable
	}
	return cloneGrant(g), nil
}

func (s *memShared) Beat(_ context.Context, replica string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.beats[replica] = until
	return nil
}

func (s *memShared) Replicas(context.Context) (map[string]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	return maps.Clone(s.beats), nil
}

// slot returns the stored slot as is (tests look at it directly).
func (s *memShared) slot(p Principal, t Tier) Slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copySlot(s.slots[slotKey{p, t}])
}

// put overwrites a slot as another party would, bumping its version.
func (s *memShared) put(sl Slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := slotKey{sl.Principal, sl.Tier}
	sl.Version = s.slots[k].Version + 1
	s.slots[k] = copySlot(sl)
}

func copySlot(sl Slot) Slot {
	sl.Grant, sl.Claim = cloneGrant(sl.Grant), cloneClaim(sl.Claim)
	if sl.Last != nil {
		l := *sl.Last
		sl.Last = &l
	}
	return sl
}

// replicas is several Managers (replicas) sharing one store, one Vault
// (the fake issuer) and one audit stream, on synctest's clock.
type replicas struct {
	t      *testing.T
	store  *memShared
	issuer *fakeIssuer
	audit  *events
	ms     []*Manager
}

const revalidate = 2 * time.Second

func newReplicas(t *testing.T, n int, tune func(*Options)) *replicas {
	t.Helper()
	r := &replicas{t: t, store: newMemShared(), issuer: newFakeIssuer(), audit: &events{}}
	for i := range n {
		o := Options{
			AcceptPasscode: true,
			Issuer:         r.issuer, Audit: r.audit, Scope: "secret/agent/", ApprovalTimeout: time.Minute,
			Shared: r.store,
			SharedOptions: SharedOptions{
				Replica: fmt.Sprintf("rep-%c", 'a'+i), Revalidate: revalidate,
				Poll: 500 * time.Millisecond, Heartbeat: 10 * time.Second,
			},
		}
		if tune != nil {
			tune(&o)
		}
		m := New(o)
		if err := m.Join(t.Context()); err != nil {
			t.Fatal(err)
		}
		r.ms = append(r.ms, m)
	}
	t.Cleanup(func() {
		for _, m := range r.ms {
			_ = m.Close(context.Background())
		}
	})
	return r
}

func (r *replicas) requested() int { return len(r.audit.named("approval.requested")) }

func liveTokens(iss *fakeIssuer) []string {
	out := iss.liveTokens()
	slices.Sort(out)
	return out
}
