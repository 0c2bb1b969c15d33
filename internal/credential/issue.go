package credential

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clock"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Spec is one credential an agent may ask for.
type Spec struct {
	Name   string
	Engine string // setup.EngineDatabase, EnginePKI or EngineSSH
	Mount  string
	Role   string
	Tier   access.Tier
	// AllowsName says whether a certificate may carry a name (pki).
	AllowsName func(name string) bool
}

func (s Spec) role() setup.Role {
	return setup.Role{Engine: s.Engine, Mount: s.Mount, Name: s.Role, Tier: s.Tier}
}

// Vault is what issuing needs from the Vault client.
type Vault interface {
	Read(ctx context.Context, tok sensitive.String, path string) (*vault.Secret, error)
	Write(ctx context.Context, tok sensitive.String, path string, data map[string]any) (*vault.Secret, error)
	RenewLease(ctx context.Context, tok sensitive.String, leaseID string, increment time.Duration) (time.Duration, error)
	RevokeLease(ctx context.Context, tok sensitive.String, leaseID string) error
}

// Access is what issuing needs from the access model.
type Access interface {
	ForCredential(ctx context.Context, p access.Principal, t access.Tier, trigger string) (*access.Grant, error)
	AddCredential(ctx context.Context, g *access.Grant, c access.Credential) error
	TakeCredential(p access.Principal, name string) ([]access.Credential, []*access.Grant)
	EndCredential(ctx context.Context, g *access.Grant, c access.Credential, why string, err error)
}

// Options configure a Service. Vault, Access and Specs are required.
type Options struct {
	Vault  Vault
	Access Access
	// Specs are the credentials a principal may ask for.
	Specs  func(p access.Principal) []Spec
	Clock  clock.Clock
	Logger *slog.Logger
}

// Service issues and revokes credentials: the one place both happen, for
// every front door (the MCP tools).
type Service struct{ opts Options }

// New returns a Service; it panics without Vault, Access or Specs.
func New(opts Options) *Service {
	if opts.Vault == nil || opts.Access == nil || opts.Specs == nil {
		panic("credential.New: Vault, Access and Specs are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{opts: opts}
}

// Sentinels of what the agent asked wrong; their messages say what to do.
var (
	ErrUnknown    = errors.New("no such credential")
	ErrName       = errors.New("name not allowed for this certificate")
	ErrPublicKey  = errors.New("not an SSH public key")
	ErrWrongInput = errors.New("not an input of this credential")
)

// Request is what the agent asks for.
type Request struct {
	Name       string
	CommonName string   // pki
	AltNames   []string // pki
	PublicKey  string   // ssh, in authorized_keys format
}

// Issued is a credential as issued: where it came from and its values.
type Issued struct {
	access.Credential
	Tier access.Tier
}

// Spec returns the credential p may ask for under name.
func (s *Service) Spec(p access.Principal, name string) (Spec, error) {
	specs := s.opts.Specs(p)
	i := slices.IndexFunc(specs, func(sp Spec) bool { return sp.Name == name })
	if i < 0 {
		var names []string
		for _, sp := range specs {
			names = append(names, sp.Name)
		}
		return Spec{}, fmt.Errorf("%w %q: yours are %s", ErrUnknown, name, strings.Join(names, ", "))
	}
	return specs[i], nil
}

// Specs lists the credentials p may ask for.
func (s *Service) Specs(p access.Principal) []Spec { return s.opts.Specs(p) }

// Allows reports whether p may ask for any credential: whether the tools
// exist for it.
func (s *Service) Allows(p access.Principal) bool { return len(s.opts.Specs(p)) > 0 }

// Issue issues the credential p asks for with the token of p's grant at
// the credential's tier (a read approval starts if p has none; write must
// be live), cuts its life to the grant's, and records it. Only then is it
// returned: a credential that is not on record, or that would outlive its
// grant, is revoked and not given.
func (s *Service) Issue(ctx context.Context, p access.Principal, req Request) (*Issued, error) {
	spec, err := s.Spec(p, req.Name)
	if err != nil {
		return nil, err
	}
	body, err := s.body(spec, req)
	if err != nil {
		return nil, err
	}
	g, err := s.opts.Access.ForCredential(ctx, p, spec.Tier, "issue_credential "+spec.Name)
	if err != nil {
		return nil, err
	}
	now := s.opts.Clock.Now()
	left := g.ExpiresAt.Sub(now)
	if left < 2*minLife {
		return nil, fmt.Errorf("%w: %s left on the %s grant", ErrGrantEnding, left.Round(time.Second), spec.Tier)
	}
	var c access.Credential
	switch spec.Engine {
	case setup.EngineDatabase:
		c, err = s.database(ctx, g, spec, now)
	case setup.EnginePKI:
		c, err = s.pki(ctx, g, spec, now, body)
	case setup.EngineSSH:
		c, err = s.ssh(ctx, g, spec, now, body, left)
	}
	if err != nil {
		return nil, err
	}
	if err := s.opts.Access.AddCredential(ctx, g, c); err != nil {
		s.giveBack(ctx, g, c)
		return nil, err
	}
	return &Issued{Credential: c, Tier: spec.Tier}, nil
}

// ErrGrantEnding: the grant has too little time left for a credential.
var ErrGrantEnding = errors.New("the grant ends too soon")

// minLife is the shortest a credential may live; a grant with less than
// twice that left is renewed (read) or escalated again (write) first.
const minLife = 30 * time.Second

// Revoke ends p's live credentials named name in Vault now, with their
// grant's token, and records it. It returns how many there were. A signed
// SSH certificate has no lease: it is forgotten and expires on its own.
func (s *Service) Revoke(ctx context.Context, p access.Principal, name string) (int, error) {
	if _, err := s.Spec(p, name); err != nil {
		return 0, err
	}
	creds, grants := s.opts.Access.TakeCredential(p, name)
	var errs []error
	for i, c := range creds {
		var err error
		why := "revoked by the agent"
		if c.LeaseID != "" {
			err = s.opts.Vault.RevokeLease(ctx, grants[i].Token, c.LeaseID)
		} else {
			why = "forgotten at the agent's request; it expires on its own"
		}
		s.opts.Access.EndCredential(ctx, grants[i], c, why, err)
		errs = append(errs, err)
	}
	return len(creds), errors.Join(errs...)
}

// giveBack revokes a credential that will not be given.
func (s *Service) giveBack(ctx context.Context, g *access.Grant, c access.Credential) {
	if c.LeaseID == "" {
		return
	}
	if err := s.opts.Vault.RevokeLease(context.WithoutCancel(ctx), g.Token, c.LeaseID); err != nil {
		s.opts.Logger.WarnContext(ctx, "revoking a credential that was not given failed; it ends with its grant", "credential", c.Name, "lease_id", c.LeaseID, "err", err)
	}
}
