package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openbao/openbao/api/v2"
)

// DirectVault is the baseline: the same KV v2 read an MCP server makes,
// sent straight to Vault with the OpenBao API client, by clients that each
// hold a token (client i uses Tokens[i%len]) and read a secret (Paths[i%len]).
type DirectVault struct {
	Addr   string
	Tokens []string
	// Mount and Paths name the secrets: GET /v1/MOUNT/data/PATH.
	Mount string
	Paths []string
}

// ParseKV splits "MOUNT/PATH" (a KV v2 mount and a secret in it).
func ParseKV(s string) (mount, path string, err error) {
	mount, path, ok := strings.Cut(strings.Trim(s, "/"), "/")
	if !ok || mount == "" || path == "" {
		return "", "", fmt.Errorf("the KV secret %q is not MOUNT/PATH", s)
	}
	return mount, path, nil
}

// Call returns a Call that reads the secret, one API client per token, all
// sharing one connection pool sized for clients (the API client's default
// pool keeps only a few idle connections, which at high concurrency would
// measure TCP set-up instead of Vault).
func (d DirectVault) Call(clients int) (Call, error) {
	var errs []error
	if d.Addr == "" {
		errs = append(errs, errors.New("the Vault address is empty"))
	}
	if len(d.Tokens) == 0 {
		errs = append(errs, errors.New("no Vault token"))
	}
	if d.Mount == "" || len(d.Paths) == 0 {
		errs = append(errs, errors.New("no KV mount and path"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("reading the Vault client environment: %w", cfg.Error)
	}
	cfg.Address = d.Addr
	cfg.MaxRetries = 0
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = max(clients, 2)
	}
	base, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Vault client: %w", err)
	}
	kvs := make([]*api.KVv2, len(d.Tokens))
	for i, tok := range d.Tokens {
		c, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("cloning the Vault client: %w", err)
		}
		c.SetToken(tok)
		kvs[i] = c.KVv2(d.Mount)
	}
	return func(ctx context.Context, client int) error {
		s, err := kvs[client%len(kvs)].Get(ctx, d.Paths[client%len(d.Paths)])
		if err != nil {
			return err
		}
		if len(s.Data) == 0 {
			return errors.New("the secret has no data")
		}
		return nil
	}, nil
}
