package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// A credential is what Vault issues from a dynamic-secrets engine (a
// database login, a certificate, a signed SSH key) with a grant's own
// token. Vault ties its lease to that token, so when the grant ends and
// its token is revoked (or simply expires), Vault ends the credential too:
// no bookkeeping of Gatekeeper's is needed for that, and a killed
// Gatekeeper leaves nothing alive past the grant's expiry. What the model
// keeps here is what an operator and the agent are shown, the values a
// placeholder uses, and the audit trail of each credential's life.

// Credential is one credential issued with a grant's token.
type Credential struct {
	Name    string // as the operator configured it
	Engine  string // database, pki or ssh
	LeaseID string // "" when Vault keeps no lease (a signed SSH certificate)
	// ExpiresAt is never later than its grant's.
	IssuedAt, ExpiresAt time.Time
	// Values are its fields, for placeholders: never in a view, a log or
	// an audit event.
	Values map[string]sensitive.String
}

// CredentialView is a live credential as an operator and the agent see it.
type CredentialView struct {
	Name      string
	Engine    string
	Tier      Tier
	LeaseID   string
	ExpiresAt time.Time
}

// ErrNoCredential: no live credential of that name.
var ErrNoCredential = errors.New("no live credential of that name")

// ForCredential returns p's live grant at exactly tier t, whose token a
// credential of tier t is issued with, so that the credential lives as
// long as that grant: a read-tier credential outlives a release of write.
// For read it starts the read approval as ForRead does; write never
// escalates by itself (ErrWriteRequired).
func (m *Manager) ForCredential(ctx context.Context, p Principal, t Tier, trigger string) (*Grant, error) {
	if t == Read {
		if _, err := m.ForRead(ctx, p, trigger); err != nil {
			return nil, err
		}
	} else if err := m.refreshQuietly(p, Write, false); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(p)
	if g := st.grants[t]; g.liveAt(m.opts.Clock.Now()) && m.verified(st, t) {
		return g, nil
	}
	if t == Write {
		return nil, ErrWriteRequired
	}
	return nil, ErrNotAuthenticated // read lapsed while write lives on
}

// AddCredential records c, issued with g's token, once the record of its
// issue is written: a credential that is not on record is not given (the
// caller revokes it). It fails with ErrGrantLost if g ended meanwhile.
func (m *Manager) AddCredential(ctx context.Context, g *Grant, c Credential) error {
	m.mu.Lock()
	st := m.state(g.Principal)
	current := st.grants[g.Tier] == g && g.liveAt(m.opts.Clock.Now())
	m.mu.Unlock()
	if !current {
		return ErrGrantLost
	}
	if c.ExpiresAt.After(g.ExpiresAt) {
		return fmt.Errorf("%w: credential %s until %s, grant until %s", ErrTokenTooLong, c.Name, c.ExpiresAt.UTC().Format(time.RFC3339), g.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err := m.recordCredential(ctx, g, c, audit.CredentialIssued, audit.OK, ""); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if st.grants[g.Tier] != g {
		return ErrGrantLost
	}
	// The newest of a name is the one placeholders use; older ones live
	// on, listed, until they or their grant end.
	g.creds = append(g.creds, &c)
	return nil
}

// Credential returns p's newest live credential named name.
func (m *Manager) Credential(p Principal, name string) (Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Clock.Now()
	var found *Credential
	if st, ok := m.principals[p]; ok {
		for _, g := range st.grants {
			if !g.liveAt(now) {
				continue
			}
			for _, c := range g.creds {
				if c.Name == name && now.Before(c.ExpiresAt) && (found == nil || c.IssuedAt.After(found.IssuedAt)) {
					found = c
				}
			}
		}
	}
	if found == nil {
		return Credential{}, ErrNoCredential
	}
	return *found, nil
}

// Credentials lists p's live credentials, oldest first.
func (m *Manager) Credentials(p Principal) []CredentialView {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.principals[p]
	if !ok {
		return nil
	}
	return credentialViews(st.grants[:], m.opts.Clock.Now())
}

func credentialViews(grants []*Grant, now time.Time) []CredentialView {
	var out []CredentialView
	for _, g := range grants {
		if !g.liveAt(now) {
			continue
		}
		for _, c := range g.creds {
			if now.Before(c.ExpiresAt) {
				out = append(out, CredentialView{Name: c.Name, Engine: c.Engine, Tier: g.Tier, LeaseID: c.LeaseID, ExpiresAt: c.ExpiresAt})
			}
		}
	}
	slices.SortFunc(out, func(a, b CredentialView) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	return out
}

// TakeCredential removes p's credentials named name from their grants and
// returns them, with the grant each was issued with, for the caller to
// revoke in Vault (revoke_credential) and record with EndCredential.
func (m *Manager) TakeCredential(p Principal, name string) ([]Credential, []*Grant) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.principals[p]
	if !ok {
		return nil, nil
	}
	var creds []Credential
	var grants []*Grant
	for _, g := range st.grants {
		if g == nil {
			continue
		}
		kept := g.creds[:0]
		for _, c := range g.creds {
			if c.Name == name {
				creds, grants = append(creds, *c), append(grants, g)
			} else {
				kept = append(kept, c)
			}
		}
		g.creds = kept
	}
	return creds, grants
}

// EndCredential records how a credential taken with TakeCredential ended:
// revoked in Vault (err nil), or not (it still ends with its grant).
func (m *Manager) EndCredential(ctx context.Context, g *Grant, c Credential, why string, err error) {
	if err != nil {
		_ = m.recordCredential(ctx, g, c, audit.CredentialRevoked, audit.Failed, why+": "+safeDetail(err)+"; it ends with its grant")
		return
	}
	_ = m.recordCredential(ctx, g, c, audit.CredentialRevoked, audit.OK, why)
}

// credentialsEnded records that g's credentials ended with it.
func (m *Manager) credentialsEnded(ctx context.Context, g *Grant, why string) {
	m.mu.Lock()
	creds := g.creds
	g.creds = nil
	m.mu.Unlock()
	for _, c := range creds {
		_ = m.recordCredential(ctx, g, *c, audit.CredentialRevoked, audit.OK, "ended with its grant: "+why)
	}
}

func (m *Manager) recordCredential(ctx context.Context, g *Grant, c Credential, event string, outcome audit.Outcome, detail string) error {
	return m.opts.Audit.Record(ctx, audit.Event{
		Event: event, Outcome: outcome, Principal: string(g.Principal), Tier: g.Tier.String(),
		ApprovalID: g.ApprovalID, Accessor: g.Accessor, Credential: c.Name, LeaseID: c.LeaseID,
		ExpiresAt: c.ExpiresAt, Detail: detail,
	})
}
