package vaultstate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// validReplica keeps replica ids to one safe path segment.
var validReplica = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (s *Store) beatPath(replica string) string { return s.opts.Folder + "/replicas/" + replica }

// Beat records that replica is alive until until (a past time: it left).
func (s *Store) Beat(ctx context.Context, replica string, until time.Time) error {
	if !validReplica.MatchString(replica) {
		return fmt.Errorf("vaultstate: %q is not a replica id", replica)
	}
	host, _ := os.Hostname()
	_, err := s.opts.Vault.KVWriteCAS(ctx, s.opts.Token(), s.opts.KVMount, s.beatPath(replica), map[string]any{
		"replica": replica, "host": host, "until": until.UTC().Format(time.RFC3339Nano),
	}, nil)
	if err != nil {
		return fmt.Errorf("recording the heartbeat of replica %s: %w", replica, err)
	}
	return nil
}

// Replicas returns every replica's last heartbeat, and deletes those of
// replicas gone for longer than PruneAfter. A heartbeat that does not
// parse counts as long gone.
func (s *Store) Replicas(ctx context.Context) (map[string]time.Time, error) {
	ids, err := s.list(ctx, s.opts.Folder+"/replicas/")
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	out := map[string]time.Time{}
	for _, id := range ids {
		if !validReplica.MatchString(id) {
			continue
		}
		sec, err := s.opts.Vault.KVRead(ctx, s.opts.Token(), s.opts.KVMount, s.beatPath(id))
		if errors.Is(err, vault.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the heartbeat of replica %s: %w", id, err)
		}
		raw, _ := sec.Data["until"].(string)
		until, perr := time.Parse(time.RFC3339Nano, raw)
		if perr == nil {
			out[id] = until
		}
		if perr != nil || now.Sub(until) > s.opts.PruneAfter {
			path := s.opts.KVMount + "/metadata/" + s.beatPath(id)
			if err := s.opts.Vault.Delete(ctx, s.opts.Token(), path); err != nil {
				s.opts.Logger.WarnContext(ctx, "pruning an old heartbeat", "replica", id, "err", err)
			}
		}
	}
	return out, nil
}

// probe is what Check encrypts and decrypts.
const probe = "Z2F0ZWtlZXBlcg==" // "gatekeeper"

// Check tells whether this replica can use the store now: list its folder
// and seal and unseal with its key (for /readyz, and at start).
func (s *Store) Check(ctx context.Context) error {
	if _, err := s.list(ctx, s.opts.Folder+"/replicas/"); err != nil {
		return fmt.Errorf("the shared state folder: %w", err)
	}
	ct, err := s.opts.Vault.TransitEncrypt(ctx, s.opts.Token(), s.opts.TransitMount, s.opts.Key, probe)
	if err == nil {
		var pt string
		pt, err = s.opts.Vault.TransitDecrypt(ctx, s.opts.Token(), s.opts.TransitMount, s.opts.Key, ct)
		if err == nil && pt != probe {
			err = errors.New("the key does not give back what it sealed")
		}
	}
	if err != nil {
		return fmt.Errorf("the shared state key %s: %w", s.opts.Key, err)
	}
	return nil
}
