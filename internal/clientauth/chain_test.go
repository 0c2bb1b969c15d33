package clientauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// stub answers with a fixed result and counts its calls. Chain's rules are
// about composition, so stubs are the real thing for them; the methods
// themselves are chained for real in TestMTLSProxy.
type stub struct {
	name  string
	id    *Identity
	err   error
	calls int
}

func (s *stub) Name() string { return s.name }

func (s *stub) Authenticate(*http.Request) (*Identity, error) {
	s.calls++
	return s.id, s.err
}

func TestChain(t *testing.T) {
	idA := &Identity{Agent: "alice", Method: "a"}
	idB := &Identity{Agent: "bob", Method: "b"}
	refusedA := refuse("a: revoked")
	broken := errors.New("backend down")
	tests := []struct {
		name      string
		methods   []*stub
		want      *Identity
		wantErr   error  // checked with errors.Is
		wantText  string // the exact error text, if any
		wantCalls []int
	}{
		{"ok/first", []*stub{{id: idA}, {id: idB}}, idA, nil, "", []int{1, 0}},
		{"ok/falls-through-no-credential", []*stub{{err: ErrNoCredential}, {id: idB}}, idB, nil, "", []int{1, 1}},
		{"fail/refusal-is-final", []*stub{{err: refusedA}, {id: idB}}, nil, ErrInvalid, "invalid credential: a: revoked", []int{1, 0}},
		{"fail/refusal-after-no-credential", []*stub{{err: ErrNoCredential}, {err: refusedA}, {id: idB}}, nil, ErrInvalid, "invalid credential: a: revoked", []int{1, 1, 0}},
		{"fail/other-error-is-final", []*stub{{err: broken}, {id: idB}}, nil, broken, "backend down", []int{1, 0}},
		{"fail/nil-identity", []*stub{{name: "lazy"}, {id: idB}}, nil, ErrInvalid, "invalid credential: lazy: no identity", []int{1, 0}},
		{"none/all-no-credential", []*stub{{err: ErrNoCredential}, {err: ErrNoCredential}}, nil, ErrNoCredential, "no credential", []int{1, 1}},
		{"none/empty", nil, nil, ErrNoCredential, "no credential", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var methods []Method
			for _, m := range tc.methods {
				methods = append(methods, m)
			}
			id, err := Chain(methods...).Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
			if !errors.Is(err, tc.wantErr) || tc.wantErr == nil && err != nil {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if err != nil && err.Error() != tc.wantText {
				t.Errorf("error text = %q, want %q", err, tc.wantText)
			}
			if diff := cmp.Diff(tc.want, id); diff != "" {
				t.Errorf("identity mismatch (-want +got):\n%s", diff)
			}
			var calls []int
			for _, m := range tc.methods {
				calls = append(calls, m.calls)
			}
			if diff := cmp.Diff(tc.wantCalls, calls); diff != "" {
				t.Errorf("calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChainName(t *testing.T) {
	if got := Chain().Name(); got != "chain" {
		t.Errorf("Name() = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Chain with a nil method did not panic")
		}
	}()
	Chain(&stub{}, nil)
}

// TestChainCopiesMethods: changing the caller's slice later changes nothing.
func TestChainCopiesMethods(t *testing.T) {
	methods := []Method{&stub{id: &Identity{Agent: "alice"}}}
	c := Chain(methods...)
	methods[0] = &stub{id: &Identity{Agent: "mallory"}}
	id, err := c.Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
	if err != nil || id.Agent != "alice" {
		t.Errorf("got %v, %+v; want alice", err, id)
	}
}
