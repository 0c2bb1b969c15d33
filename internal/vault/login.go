package vault

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Auth is a token Vault issued.
type Auth struct {
	Token    sensitive.String
	Accessor string
	TTL      time.Duration
	Policies []string
}

// MFAMethod is one way to satisfy a login MFA requirement.
type MFAMethod struct {
	ID           string
	Type         string // totp, duo, okta, pingid
	UsesPasscode bool
}

// MFARequirement is Vault's demand for a second factor before it issues a
// token: the login is held under RequestID until sys/mfa/validate.
type MFARequirement struct {
	RequestID string
	// Constraints must all be satisfied, each by any one of its methods.
	Constraints [][]MFAMethod
}

// Login is the first step's result: a token, or an MFA requirement.
type Login struct {
	Auth *Auth
	MFA  *MFARequirement
}

// UserpassLogin logs in as user on the userpass mount.
func (c *Client) UserpassLogin(ctx context.Context, mount, user string, password sensitive.String) (*Login, error) {
	path := "auth/" + mount + "/login/" + user
	s, err := c.Write(ctx, sensitive.String{}, path, map[string]any{"password": password.Reveal()})
	if err != nil {
		return nil, err
	}
	if s == nil || s.Auth == nil {
		return nil, &Error{Kind: ErrInvalidRequest, Op: "logging in", Path: path, Detail: "no auth in response"}
	}
	if req := s.Auth.MFARequirement; req != nil {
		out := &MFARequirement{RequestID: req.MFARequestID}
		names := make([]string, 0, len(req.MFAConstraints))
		for name := range req.MFAConstraints {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			var methods []MFAMethod
			if cons := req.MFAConstraints[name]; cons != nil {
				for _, m := range cons.Any {
					if m != nil {
						methods = append(methods, MFAMethod{ID: m.ID, Type: m.Type, UsesPasscode: m.UsesPasscode})
					}
				}
			}
			out.Constraints = append(out.Constraints, methods)
		}
		return &Login{MFA: out}, nil
	}
	return &Login{Auth: authOf(s.Auth.ClientToken, s.Auth.Accessor, s.Auth.LeaseDuration, s.Auth.Policies)}, nil
}

// ValidateMFA completes a login held by an MFA requirement. payload maps a
// method id to its passcodes; push methods take an empty list and the call
// waits while the human decides, so ctx carries the approval timeout.
func (c *Client) ValidateMFA(ctx context.Context, requestID string, payload map[string][]string) (*Auth, error) {
	const path = "sys/mfa/validate"
	p := make(map[string]any, len(payload))
	for k, v := range payload {
		p[k] = v
	}
	// The shared client holds no token: the MFA request id is the credential.
	s, err := c.base.Sys().MFAValidateWithContext(ctx, requestID, p)
	if err != nil {
		return nil, classify("validating MFA", path, err, nil)
	}
	if s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, &Error{Kind: ErrInvalidRequest, Op: "validating MFA", Path: path, Detail: "no token in response"}
	}
	return authOf(s.Auth.ClientToken, s.Auth.Accessor, s.Auth.LeaseDuration, s.Auth.Policies), nil
}

func authOf(token, accessor string, lease int, policies []string) *Auth {
	return &Auth{Token: sensitive.New(token), Accessor: accessor, TTL: time.Duration(lease) * time.Second, Policies: policies}
}

func isNotFoundOrBadRequest(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidRequest)
}
