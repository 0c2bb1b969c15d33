package mcptools

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/credential"
	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

var (
	issueCredentialTool = &mcp.Tool{
		Name:  "issue_credential",
		Title: "Get a credential that dies with your access",
		Description: "Get a fresh credential from Vault by the name the operator gave it (see list_credentials): a " +
			"database login, a certificate (give common_name, optional alt_names) or a signed SSH certificate " +
			"(give public_key). It is issued with your own grant's token and stops working when that access ends " +
			"(expiry, release, logout); a read-tier credential needs read access (this starts an approval if you " +
			"have none), a write-tier one needs write access (call escalate first). Where the deployment keeps " +
			"its values out of your context you get field names only: use them without reading them as " +
			"{{credential \"NAME\" \"FIELD\"}} in http_request or run_with_secret.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(false), IdempotentHint: false, OpenWorldHint: ptr(false)},
	}
	listCredentialsTool = &mcp.Tool{
		Name:        "list_credentials",
		Title:       "List the credentials you may get",
		Description: "List the credentials you may ask issue_credential for (name, engine, the access tier each needs) and the ones you hold now, with when each ends. Asks nobody and changes nothing.",
		Annotations: readOnly(),
	}
	revokeCredentialTool = &mcp.Tool{
		Name:  "revoke_credential",
		Title: "End a credential now",
		Description: "End your live credentials of this name now, as soon as your task is done: Vault revokes them " +
			"(drops the database login, revokes the certificate). A signed SSH certificate cannot be revoked and " +
			"is only forgotten; it expires on its own, no later than your access.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
)

// Credentials issues and revokes credentials; *credential.Service is one.
type Credentials interface {
	Specs(p access.Principal) []credential.Spec
	Issue(ctx context.Context, p access.Principal, req credential.Request) (*credential.Issued, error)
	Revoke(ctx context.Context, p access.Principal, name string) (int, error)
}

// IssueCredentialIn is issue_credential's input.
type IssueCredentialIn struct {
	Name       string   `json:"name" jsonschema:"the credential's name, as list_credentials shows it"`
	CommonName string   `json:"common_name,omitempty" jsonschema:"certificates: the name the certificate is for"`
	AltNames   []string `json:"alt_names,omitempty" jsonschema:"certificates: more names (at most 10)"`
	PublicKey  string   `json:"public_key,omitempty" jsonschema:"SSH: your public key in authorized_keys format (ssh-ed25519 AAAA…)"`
}

// CredentialOut is an issued credential.
type CredentialOut struct {
	Name        string            `json:"name"`
	Engine      string            `json:"engine" jsonschema:"database, pki or ssh"`
	Tier        string            `json:"tier" jsonschema:"the access it was issued with and ends with"`
	LeaseID     string            `json:"lease_id,omitempty"`
	ExpiresAt   time.Time         `json:"expires_at"`
	SecondsLeft int64             `json:"seconds_left"`
	Data        map[string]string `json:"data,omitempty"`
	Fields      []string          `json:"fields,omitempty" jsonschema:"the fields, when values are withheld"`
	Revealed    bool              `json:"revealed" jsonschema:"false: use the fields as {{credential \"NAME\" \"FIELD\"}} placeholders"`
}

// CredentialsOut is what list_credentials shows.
type CredentialsOut struct {
	Available []AvailableCredential `json:"available"`
	Live      []LiveCredential      `json:"live"`
}

// AvailableCredential is one credential the agent may ask for.
type AvailableCredential struct {
	Name   string `json:"name"`
	Engine string `json:"engine"`
	Tier   string `json:"tier" jsonschema:"the access it needs: read, or write (call escalate first)"`
}

// LiveCredential is one credential the agent holds.
type LiveCredential struct {
	Name        string    `json:"name"`
	Engine      string    `json:"engine"`
	Tier        string    `json:"tier"`
	LeaseID     string    `json:"lease_id,omitempty"`
	ExpiresAt   time.Time `json:"expires_at"`
	SecondsLeft int64     `json:"seconds_left"`
}

// RevokedOut says what revoke_credential ended.
type RevokedOut struct {
	Name    string `json:"name"`
	Revoked int    `json:"revoked" jsonschema:"how many live credentials of that name ended"`
}

// NameIn names a credential.
type NameIn struct {
	Name string `json:"name" jsonschema:"the credential's name"`
}

// credentialPath validates a credential's name and remembers its reveal
// path for the audit log.
func (c *call) credentialPath(name string) error {
	if !secretuse.ValidCredentialName(name) {
		return inputError("name must be a credential's name, as list_credentials shows it")
	}
	c.path = secretuse.CredentialPath(name)
	return nil
}

func (t *tools) issueCredential(ctx context.Context, c *call, in IssueCredentialIn) (CredentialOut, error) {
	if err := c.credentialPath(in.Name); err != nil {
		return CredentialOut{}, err
	}
	defer t.waiting(ctx, c, access.Read)()
	iss, err := t.opts.Credentials.Issue(ctx, c.principal, credential.Request{
		Name: in.Name, CommonName: in.CommonName, AltNames: in.AltNames, PublicKey: in.PublicKey,
	})
	if err != nil {
		return CredentialOut{}, err
	}
	c.tier = iss.Tier.String()
	out := CredentialOut{
		Name: iss.Name, Engine: iss.Engine, Tier: iss.Tier.String(), LeaseID: iss.LeaseID, ExpiresAt: iss.ExpiresAt.UTC(),
		SecondsLeft: int64(time.Until(iss.ExpiresAt).Seconds()),
	}
	if t.opts.Reveal(c.principal, c.path) {
		out.Data, out.Revealed, c.reveal = reveal(iss.Values), true, "revealed"
	} else {
		out.Fields, c.reveal = slices.Sorted(maps.Keys(iss.Values)), "withheld"
	}
	return out, nil
}

func reveal(vals map[string]sensitive.String) map[string]string {
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		out[k] = v.Reveal()
	}
	return out
}

func (t *tools) listCredentials(_ context.Context, c *call, _ struct{}) (CredentialsOut, error) {
	out := CredentialsOut{Available: []AvailableCredential{}, Live: []LiveCredential{}}
	for _, s := range t.opts.Credentials.Specs(c.principal) {
		out.Available = append(out.Available, AvailableCredential{Name: s.Name, Engine: s.Engine, Tier: s.Tier.String()})
	}
	for _, v := range t.opts.Access.Credentials(c.principal) {
		out.Live = append(out.Live, LiveCredential{
			Name: v.Name, Engine: v.Engine, Tier: v.Tier.String(), LeaseID: v.LeaseID, ExpiresAt: v.ExpiresAt.UTC(),
			SecondsLeft: int64(time.Until(v.ExpiresAt).Seconds()),
		})
	}
	return out, nil
}

func (t *tools) revokeCredential(ctx context.Context, c *call, in NameIn) (RevokedOut, error) {
	if err := c.credentialPath(in.Name); err != nil {
		return RevokedOut{}, err
	}
	n, err := t.opts.Credentials.Revoke(ctx, c.principal, in.Name)
	return RevokedOut{Name: in.Name, Revoked: n}, err
}

// source is where c's placeholders resolve: its folder with grant g's
// token, and its live credentials.
func (t *tools) source(c *call, g *access.Grant) secretuse.Source {
	return secretuse.Source{
		Token:  g.Token,
		Folder: t.opts.Folder(c.principal),
		Credential: func(name string) (map[string]sensitive.String, error) {
			cred, err := t.opts.Access.Credential(c.principal, name)
			return cred.Values, err
		},
	}
}
