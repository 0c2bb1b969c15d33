package mcptools

import (
	"context"
	"encoding/base64"
	"regexp"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

var (
	encryptTool = &mcp.Tool{
		Name:  "encrypt",
		Title: "Encrypt with your key",
		Description: "Encrypt plaintext (base64) with one of your transit keys (default \"default\"); returns the " +
			"ciphertext (vault:v1:…) to store anywhere. You never see the key. Needs read access.",
		Annotations: readOnly(),
	}
	decryptTool = &mcp.Tool{
		Name:        "decrypt",
		Title:       "Decrypt with your key",
		Description: "Decrypt a ciphertext made with one of your transit keys; returns the plaintext as base64. Needs read access.",
		Annotations: readOnly(),
	}
	rewrapTool = &mcp.Tool{
		Name:        "rewrap",
		Title:       "Re-encrypt under the key's newest version",
		Description: "Re-encrypt a ciphertext under the newest version of its key, without revealing the plaintext. Needs read access.",
		Annotations: readOnly(),
	}
	signTool = &mcp.Tool{
		Name:        "sign",
		Title:       "Sign with your key",
		Description: "Sign input (base64) with one of your signing keys (default \"signing\"); returns the signature. Needs read access.",
		Annotations: readOnly(),
	}
	verifyTool = &mcp.Tool{
		Name:        "verify",
		Title:       "Verify a signature",
		Description: "Check a signature made with one of your signing keys (default \"signing\") over input (base64). Needs read access.",
		Annotations: readOnly(),
	}
)

// TransitIn is the input of encrypt, decrypt and rewrap.
type TransitIn struct {
	Key        string `json:"key,omitempty" jsonschema:"your key's name; default \"default\""`
	Plaintext  string `json:"plaintext,omitempty" jsonschema:"encrypt: the data, base64"`
	Ciphertext string `json:"ciphertext,omitempty" jsonschema:"decrypt and rewrap: the ciphertext, vault:v1:…"`
}

// SignIn is the input of sign and verify.
type SignIn struct {
	Key       string `json:"key,omitempty" jsonschema:"your signing key's name; default \"signing\""`
	Input     string `json:"input" jsonschema:"the data, base64"`
	Signature string `json:"signature,omitempty" jsonschema:"verify: the signature, vault:v1:…"`
}

// CipherOut carries a ciphertext.
type CipherOut struct {
	Key        string `json:"key"`
	Ciphertext string `json:"ciphertext"`
}

// PlainOut carries a plaintext.
type PlainOut struct {
	Key       string `json:"key"`
	Plaintext string `json:"plaintext" jsonschema:"base64"`
}

// SignatureOut carries a signature.
type SignatureOut struct {
	Key       string `json:"key"`
	Signature string `json:"signature"`
}

// VerifiedOut says whether a signature holds.
type VerifiedOut struct {
	Key   string `json:"key"`
	Valid bool   `json:"valid"`
}

var (
	keyName    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	cipherText = regexp.MustCompile(`^vault:v[0-9]{1,9}:[A-Za-z0-9+/=]+$`)
)

const maxTransitInput = 256 << 10

// key validates a key name and returns it and the Vault key it names.
func (t *tools) key(c *call, name, def string) (string, string, error) {
	if name == "" {
		name = def
	}
	if !keyName.MatchString(name) {
		return "", "", inputError("key must be a name like default (lower-case letters, digits, - and _)")
	}
	return name, t.opts.KeyName(c.principal, name), nil
}

func checkBase64(field, v string) error {
	if v == "" || len(v) > maxTransitInput {
		return inputError(field + " must be base64, at most 256 KiB")
	}
	if _, err := base64.StdEncoding.DecodeString(v); err != nil {
		return inputError(field + " must be standard base64")
	}
	return nil
}

func checkCiphertext(field, v string) error {
	if len(v) > 2*maxTransitInput || !cipherText.MatchString(v) {
		return inputError(field + " must look like vault:v1:… (as encrypt returns it)")
	}
	return nil
}

func (t *tools) encrypt(ctx context.Context, c *call, in TransitIn) (CipherOut, error) {
	name, key, err := t.key(c, in.Key, "default")
	if err != nil {
		return CipherOut{}, err
	}
	if err := checkBase64("plaintext", in.Plaintext); err != nil {
		return CipherOut{}, err
	}
	ct, err := withRead(ctx, t, c, func(g *access.Grant) (string, error) {
		return t.opts.Vault.TransitEncrypt(ctx, g.Token, t.opts.TransitMount, key, in.Plaintext)
	})
	return CipherOut{Key: name, Ciphertext: ct}, err
}

func (t *tools) decrypt(ctx context.Context, c *call, in TransitIn) (PlainOut, error) {
	name, key, err := t.key(c, in.Key, "default")
	if err != nil {
		return PlainOut{}, err
	}
	if err := checkCiphertext("ciphertext", in.Ciphertext); err != nil {
		return PlainOut{}, err
	}
	pt, err := withRead(ctx, t, c, func(g *access.Grant) (string, error) {
		return t.opts.Vault.TransitDecrypt(ctx, g.Token, t.opts.TransitMount, key, in.Ciphertext)
	})
	return PlainOut{Key: name, Plaintext: pt}, err
}

func (t *tools) rewrap(ctx context.Context, c *call, in TransitIn) (CipherOut, error) {
	name, key, err := t.key(c, in.Key, "default")
	if err != nil {
		return CipherOut{}, err
	}
	if err := checkCiphertext("ciphertext", in.Ciphertext); err != nil {
		return CipherOut{}, err
	}
	ct, err := withRead(ctx, t, c, func(g *access.Grant) (string, error) {
		return t.opts.Vault.TransitRewrap(ctx, g.Token, t.opts.TransitMount, key, in.Ciphertext)
	})
	return CipherOut{Key: name, Ciphertext: ct}, err
}

func (t *tools) sign(ctx context.Context, c *call, in SignIn) (SignatureOut, error) {
	name, key, err := t.key(c, in.Key, "signing")
	if err != nil {
		return SignatureOut{}, err
	}
	if err := checkBase64("input", in.Input); err != nil {
		return SignatureOut{}, err
	}
	sig, err := withRead(ctx, t, c, func(g *access.Grant) (string, error) {
		return t.opts.Vault.TransitSign(ctx, g.Token, t.opts.TransitMount, key, in.Input)
	})
	return SignatureOut{Key: name, Signature: sig}, err
}

func (t *tools) verify(ctx context.Context, c *call, in SignIn) (VerifiedOut, error) {
	name, key, err := t.key(c, in.Key, "signing")
	if err != nil {
		return VerifiedOut{}, err
	}
	if err := checkBase64("input", in.Input); err != nil {
		return VerifiedOut{}, err
	}
	if err := checkCiphertext("signature", in.Signature); err != nil {
		return VerifiedOut{}, err
	}
	ok, err := withRead(ctx, t, c, func(g *access.Grant) (bool, error) {
		return t.opts.Vault.TransitVerify(ctx, g.Token, t.opts.TransitMount, key, in.Input, in.Signature)
	})
	return VerifiedOut{Key: name, Valid: ok}, err
}
