package vaultstate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// recordVersion is the format of a slot record.
const recordVersion = 1

// record is a slot as KV keeps it. Only Grant.Sealed carries the token,
// encrypted.
type record struct {
	V         int        `json:"v"`
	Principal string     `json:"principal"`
	Tier      string     `json:"tier"`
	Grant     *grantRec  `json:"grant,omitempty"`
	Claim     *claimRec  `json:"claim,omitempty"`
	Last      *lastRec   `json:"last,omitempty"`
	CoolUntil *time.Time `json:"cool_until,omitempty"`
	AutoSpent bool       `json:"auto_spent,omitempty"`
	Revoked   bool       `json:"revoked,omitempty"`
}

type grantRec struct {
	ApprovalID string    `json:"approval_id"`
	Accessor   string    `json:"accessor"`
	Scope      string    `json:"scope"`
	Paths      []string  `json:"paths,omitempty"`
	IssuedAt   time.Time `json:"issued_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Sealed is the transit ciphertext of a sealed.
	Sealed string `json:"sealed"`
}

type claimRec struct {
	ApprovalID string    `json:"approval_id"`
	Replica    string    `json:"replica"`
	Reason     string    `json:"reason,omitempty"`
	Trigger    string    `json:"trigger,omitempty"`
	Paths      []string  `json:"paths,omitempty"`
	Expires    time.Time `json:"expires"`
	Auto       bool      `json:"auto,omitempty"`
}

type lastRec struct {
	ApprovalID string `json:"approval_id"`
	Result     string `json:"result"`
}

// sealed is what the transit key encrypts: the whole grant, token included.
type sealed struct {
	Principal  string    `json:"principal"`
	Tier       string    `json:"tier"`
	Scope      string    `json:"scope"`
	Paths      []string  `json:"paths,omitempty"`
	Token      string    `json:"token"`
	Accessor   string    `json:"accessor"`
	ApprovalID string    `json:"approval_id"`
	IssuedAt   time.Time `json:"issued_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func recordOf(sl access.Slot) record {
	rec := record{V: recordVersion, Principal: string(sl.Principal), Tier: sl.Tier.String(), AutoSpent: sl.AutoSpent, Revoked: sl.Revoked}
	if g := sl.Grant; g != nil {
		rec.Grant = &grantRec{
			ApprovalID: g.ApprovalID, Accessor: g.Accessor, Scope: g.Scope, Paths: slices.Clone(g.Paths),
			IssuedAt: g.IssuedAt.UTC(), ExpiresAt: g.ExpiresAt.UTC(),
		}
	}
	if c := sl.Claim; c != nil {
		rec.Claim = &claimRec{
			ApprovalID: c.ApprovalID, Replica: c.Replica, Reason: c.Reason, Trigger: c.Trigger,
			Paths: slices.Clone(c.Paths), Expires: c.Expires.UTC(), Auto: c.Auto,
		}
	}
	if l := sl.Last; l != nil {
		rec.Last = &lastRec{ApprovalID: l.ApprovalID, Result: l.Result}
	}
	if !sl.CoolUntil.IsZero() {
		u := sl.CoolUntil.UTC()
		rec.CoolUntil = &u
	}
	return rec
}

// slot is rec as the access model sees it: the grant without its token.
func (rec record) slot(p access.Principal, t access.Tier) access.Slot {
	sl := access.Slot{Principal: p, Tier: t, AutoSpent: rec.AutoSpent, Revoked: rec.Revoked}
	if g := rec.Grant; g != nil {
		sl.Grant = &access.Grant{
			Principal: p, Tier: t, Scope: g.Scope, Paths: slices.Clone(g.Paths), Accessor: g.Accessor,
			ApprovalID: g.ApprovalID, IssuedAt: g.IssuedAt, ExpiresAt: g.ExpiresAt,
		}
		sl.Sealed = g.Sealed
	}
	if c := rec.Claim; c != nil {
		sl.Claim = &access.Claim{
			ApprovalID: c.ApprovalID, Replica: c.Replica, Reason: c.Reason, Trigger: c.Trigger,
			Paths: slices.Clone(c.Paths), Expires: c.Expires, Auto: c.Auto,
		}
	}
	if l := rec.Last; l != nil {
		sl.Last = &access.Outcome{ApprovalID: l.ApprovalID, Result: l.Result}
	}
	if rec.CoolUntil != nil {
		sl.CoolUntil = *rec.CoolUntil
	}
	return sl
}

// data is rec as KV's data map.
func (rec record) data() (map[string]any, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encoding a shared record: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encoding a shared record: %w", err)
	}
	return m, nil
}

// parse reads a record from KV's data map, strictly.
func parse(data map[string]any) (record, error) {
	var rec record
	b, err := json.Marshal(data)
	if err != nil {
		return rec, errors.New("the record is not JSON")
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, errors.New("the record does not parse")
	}
	switch {
	case rec.V != recordVersion:
		return rec, fmt.Errorf("record format %d, want %d", rec.V, recordVersion)
	case rec.Grant != nil && (rec.Grant.ApprovalID == "" || rec.Grant.Sealed == "" || rec.Grant.ExpiresAt.IsZero()):
		return rec, errors.New("the grant is incomplete")
	case rec.Claim != nil && (rec.Claim.ApprovalID == "" || rec.Claim.Expires.IsZero()):
		return rec, errors.New("the claim is incomplete")
	}
	return rec, nil
}

// seal encrypts g, token included, with the state key.
func (s *Store) seal(ctx context.Context, p access.Principal, t access.Tier, g *access.Grant) (string, error) {
	b, err := json.Marshal(sealed{
		Principal: string(p), Tier: t.String(), Scope: g.Scope, Paths: g.Paths, Token: g.Token.Reveal(),
		Accessor: g.Accessor, ApprovalID: g.ApprovalID, IssuedAt: g.IssuedAt.UTC(), ExpiresAt: g.ExpiresAt.UTC(),
	})
	if err != nil {
		return "", fmt.Errorf("sealing a grant: %w", err)
	}
	ct, err := s.opts.Vault.TransitEncrypt(ctx, s.opts.Token(), s.opts.TransitMount, s.opts.Key, base64.StdEncoding.EncodeToString(b))
	clear(b)
	if err != nil {
		return "", fmt.Errorf("sealing the grant of %s at %s: %w", p, t, err)
	}
	return ct, nil
}

// Unseal decrypts the grant sealed in sl. A seal that the key cannot open,
// that does not parse, or that names another place is
// access.ErrSlotUnreadable; an error from Vault otherwise is passed on.
func (s *Store) Unseal(ctx context.Context, sl access.Slot) (*access.Grant, error) {
	if sl.Sealed == "" {
		return nil, fmt.Errorf("%w: no seal", access.ErrSlotUnreadable)
	}
	pt, err := s.opts.Vault.TransitDecrypt(ctx, s.opts.Token(), s.opts.TransitMount, s.opts.Key, sl.Sealed)
	if errors.Is(err, vault.ErrInvalidRequest) {
		// Another key's ciphertext, damaged, or not Vault's format.
		return nil, fmt.Errorf("%w: the seal does not open", access.ErrSlotUnreadable)
	}
	if err != nil {
		return nil, fmt.Errorf("unsealing the grant of %s at %s: %w", sl.Principal, sl.Tier, err)
	}
	b, err := base64.StdEncoding.DecodeString(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: the seal is not base64", access.ErrSlotUnreadable)
	}
	defer clear(b)
	var in sealed
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%w: the seal does not parse", access.ErrSlotUnreadable)
	}
	if in.Principal != string(sl.Principal) || in.Tier != sl.Tier.String() || in.Token == "" {
		return nil, fmt.Errorf("%w: the seal names another place", access.ErrSlotUnreadable)
	}
	return &access.Grant{
		Principal: sl.Principal, Tier: sl.Tier, Scope: in.Scope, Paths: in.Paths, Token: sensitive.New(in.Token),
		Accessor: in.Accessor, ApprovalID: in.ApprovalID, IssuedAt: in.IssuedAt, ExpiresAt: in.ExpiresAt,
	}, nil
}
