package setup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// mfa finds or creates the login MFA method and enrolls the human. It
// returns the id of the method the login enforcement should use.
func (r *run) mfa(ctx context.Context, entityID string) (string, error) {
	if d := r.opts.Duo; d != nil {
		r.res.MFAMethod = "duo"
		return r.method(ctx, "duo", duoMethodName, map[string]any{
			"method_name":     duoMethodName,
			"api_hostname":    d.Host,
			"integration_key": d.IntegrationKey,
			"secret_key":      d.SecretKey.Reveal(),
			"username_format": d.Username,
			"push_info":       "from=Gatekeeper",
		}, true)
	}
	r.res.MFAMethod = "totp"
	id, err := r.method(ctx, "totp", totpMethodName, map[string]any{
		"method_name": totpMethodName,
		"issuer":      totpIssuer,
		"period":      30,
		"digits":      6,
		"algorithm":   "SHA1",
		"key_size":    20,
		// One period either side tolerates a phone's clock drift.
		"skew":                    1,
		"max_validation_attempts": 5,
	}, false)
	if err != nil {
		return "", err
	}
	s, err := r.v.Write(ctx, r.admin, "identity/mfa/method/totp/admin-generate", map[string]any{
		"method_id": id, "entity_id": entityID,
	})
	if err != nil {
		return "", fmt.Errorf("enrolling the approver in TOTP: %w", err)
	}
	if s != nil {
		if url, _ := s.Data["url"].(string); url != "" {
			r.res.TOTPURL = url
			r.changed("totp enrollment")
		}
	}
	// No URL: the human is already enrolled, and keeps that enrollment.
	return id, nil
}

// method returns the id of the MFA method of this type named name, creating
// it, or updating it when update is set (Duo keys may be rotated).
func (r *run) method(ctx context.Context, typ, name string, config map[string]any, update bool) (string, error) {
	base := "identity/mfa/method/" + typ
	id, err := r.findMethod(ctx, base, name)
	if err != nil {
		return "", err
	}
	if id != "" && !update {
		return id, nil
	}
	path := base
	if id != "" {
		path = base + "/" + id
	}
	s, err := r.v.Write(ctx, r.admin, path, config)
	if err != nil {
		return "", fmt.Errorf("writing %s MFA method: %w", typ, err)
	}
	if id == "" {
		if s != nil {
			id, _ = s.Data["method_id"].(string)
		}
		if id == "" {
			return "", fmt.Errorf("creating %s MFA method: no method_id in the response", typ)
		}
		r.changed(typ + " MFA method")
	}
	return id, nil
}

func (r *run) findMethod(ctx context.Context, base, name string) (string, error) {
	s, err := r.v.List(ctx, r.admin, base)
	if errors.Is(err, vault.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("listing MFA methods: %w", err)
	}
	// Vault answers the list with each method's settings in key_info; its
	// name is "name" there (method_name when written).
	info, _ := s.Data["key_info"].(map[string]any)
	for _, k := range anySlice(s.Data["keys"]) {
		id, _ := k.(string)
		m, _ := info[id].(map[string]any)
		if m == nil {
			r, err := r.v.Read(ctx, r.admin, base+"/"+strings.TrimSuffix(id, "/"))
			if err != nil {
				return "", fmt.Errorf("reading MFA method %s: %w", id, err)
			}
			m = r.Data
		}
		if m["name"] == name || m["method_name"] == name {
			return id, nil
		}
	}
	return "", nil
}
