package vaultstate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Vault is what the store needs from the Vault client.
type Vault interface {
	KVRead(ctx context.Context, tok sensitive.String, mount, path string) (*vault.KVSecret, error)
	KVWriteCAS(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any, cas *int64) (int64, error)
	KVList(ctx context.Context, tok sensitive.String, mount, path string) ([]string, error)
	TransitEncrypt(ctx context.Context, tok sensitive.String, mount, key, plaintextB64 string) (string, error)
	TransitDecrypt(ctx context.Context, tok sensitive.String, mount, key, ciphertext string) (string, error)
	Delete(ctx context.Context, tok sensitive.String, path string) error
}

// Options configure a Store. Vault, Token, KVMount, Folder, TransitMount
// and Key are required.
type Options struct {
	Vault Vault
	// Token is Gatekeeper's own (the bootstrap or broker token) as it is
	// now: a new login replaces it.
	Token        func() sensitive.String
	KVMount      string // e.g. "secret"
	Folder       string // e.g. "gatekeeper/state"
	TransitMount string // e.g. "transit"
	Key          string // e.g. "gatekeeper-state"
	// PruneAfter: heartbeats older than this are deleted; default 1h.
	PruneAfter time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// Store implements access.Shared in Vault.
type Store struct {
	opts Options
}

var _ access.Shared = (*Store)(nil)

// New returns a Store.
func New(opts Options) (*Store, error) {
	if opts.Vault == nil || opts.Token == nil || opts.KVMount == "" || opts.Folder == "" || opts.TransitMount == "" || opts.Key == "" {
		return nil, errors.New("vaultstate: Vault, Token, KVMount, Folder, TransitMount and Key are required")
	}
	if opts.PruneAfter <= 0 {
		opts.PruneAfter = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts.Folder = strings.Trim(opts.Folder, "/")
	return &Store{opts: opts}, nil
}

// plainName is a principal that can be a path segment as it is: an agent
// name, or "stdio". Anything else is encoded.
var plainName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// segment is p as one path segment: itself, or "~" and its base64url
// (no agent name holds "~", so the two never meet).
func segment(p access.Principal) string {
	if plainName.MatchString(string(p)) {
		return string(p)
	}
	return "~" + base64.RawURLEncoding.EncodeToString([]byte(p))
}

func principalOf(seg string) (access.Principal, bool) {
	if b64, ok := strings.CutPrefix(seg, "~"); ok {
		b, err := base64.RawURLEncoding.DecodeString(b64)
		return access.Principal(b), err == nil && len(b) > 0
	}
	return access.Principal(seg), plainName.MatchString(seg)
}

func tierOf(s string) (access.Tier, bool) {
	for _, t := range []access.Tier{access.Read, access.Write, access.Destroy} {
		if t.String() == s {
			return t, true
		}
	}
	return access.None, false
}

func (s *Store) slotPath(p access.Principal, t access.Tier) string {
	return s.opts.Folder + "/slots/" + segment(p) + "/" + t.String()
}

// Load reads p's slot at t. A missing record is Version 0; one that does
// not parse or names another place keeps its version (so it can be
// overwritten) and nothing else.
func (s *Store) Load(ctx context.Context, p access.Principal, t access.Tier) (access.Slot, error) {
	empty := access.Slot{Principal: p, Tier: t}
	sec, err := s.opts.Vault.KVRead(ctx, s.opts.Token(), s.opts.KVMount, s.slotPath(p, t))
	if errors.Is(err, vault.ErrNotFound) {
		// Never written, or deleted by hand: absent, at the version a
		// check-and-set must name.
		var ve *vault.Error
		if errors.As(err, &ve) {
			empty.Version = ve.Version
		}
		return empty, nil
	}
	if err != nil {
		return access.Slot{}, fmt.Errorf("reading the shared slot of %s at %s: %w", p, t, err)
	}
	rec, err := parse(sec.Data)
	if err == nil && (rec.Principal != string(p) || rec.Tier != t.String()) {
		err = errors.New("the record names another place")
	}
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "a shared record cannot be trusted; treated as absent", "principal", p, "tier", t, "version", sec.Version, "err", err)
		empty.Version = sec.Version
		return empty, nil
	}
	out := rec.slot(p, t)
	out.Version = sec.Version
	return out, nil
}

// Store writes sl by check-and-set on sl.Version, sealing its grant's
// token if it carries one.
func (s *Store) Store(ctx context.Context, sl access.Slot) (access.Slot, error) {
	rec := recordOf(sl)
	if g := sl.Grant; g != nil {
		switch {
		case !g.Token.IsZero():
			sealed, err := s.seal(ctx, sl.Principal, sl.Tier, g)
			if err != nil {
				return access.Slot{}, err
			}
			rec.Grant.Sealed = sealed
		case sl.Sealed != "":
			rec.Grant.Sealed = sl.Sealed
		default:
			return access.Slot{}, errors.New("vaultstate: a grant without its token or its seal")
		}
	}
	data, err := rec.data()
	if err != nil {
		return access.Slot{}, err
	}
	cas := sl.Version
	v, err := s.opts.Vault.KVWriteCAS(ctx, s.opts.Token(), s.opts.KVMount, s.slotPath(sl.Principal, sl.Tier), data, &cas)
	if errors.Is(err, vault.ErrCASMismatch) {
		return access.Slot{}, access.ErrSlotConflict
	}
	if err != nil {
		return access.Slot{}, fmt.Errorf("writing the shared slot of %s at %s: %w", sl.Principal, sl.Tier, err)
	}
	out := rec.slot(sl.Principal, sl.Tier)
	out.Version = v
	return out, nil
}

// List reads every slot.
func (s *Store) List(ctx context.Context) ([]access.Slot, error) {
	base := s.opts.Folder + "/slots/"
	segs, err := s.list(ctx, base)
	if err != nil {
		return nil, err
	}
	var out []access.Slot
	for _, seg := range segs {
		p, ok := principalOf(strings.TrimSuffix(seg, "/"))
		if !ok || !strings.HasSuffix(seg, "/") {
			continue
		}
		tiers, err := s.list(ctx, base+seg)
		if err != nil {
			return nil, err
		}
		for _, name := range tiers {
			t, ok := tierOf(name)
			if !ok {
				continue
			}
			sl, err := s.Load(ctx, p, t)
			if err != nil {
				return nil, err
			}
			out = append(out, sl)
		}
	}
	return out, nil
}

// list lists a folder; a missing one is empty.
func (s *Store) list(ctx context.Context, path string) ([]string, error) {
	keys, err := s.opts.Vault.KVList(ctx, s.opts.Token(), s.opts.KVMount, path)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", path, err)
	}
	return keys, nil
}
