package vault

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Transit keeps keys inside Vault: callers send data to a named key and get
// back ciphertexts ("vault:v<key version>:<base64>") and signatures in the
// same format, never key material. Plaintexts and signing inputs travel as
// base64, as Vault's API takes them.
//
// A ciphertext or signature the key cannot use (another key's, damaged, not
// Vault's format) is ErrCiphertextInvalid; a key that does not exist is
// ErrNotFound, except that encrypting to a missing key creates it when the
// token may create keys, and is ErrPermissionDenied when it may not.

// TransitEncrypt encrypts plaintextB64 with the latest version of key.
func (c *Client) TransitEncrypt(ctx context.Context, tok sensitive.String, mount, key, plaintextB64 string) (string, error) {
	return c.transit(ctx, tok, "encrypting", mount, "encrypt", key, map[string]any{"plaintext": plaintextB64}, "ciphertext")
}

// TransitDecrypt decrypts ciphertext made by any version of key that is
// still allowed to decrypt, and returns the plaintext in base64.
func (c *Client) TransitDecrypt(ctx context.Context, tok sensitive.String, mount, key, ciphertext string) (string, error) {
	return c.transit(ctx, tok, "decrypting", mount, "decrypt", key, map[string]any{"ciphertext": ciphertext}, "plaintext")
}

// TransitRewrap re-encrypts ciphertext with the latest version of key
// without revealing the plaintext, so old key versions can be retired.
func (c *Client) TransitRewrap(ctx context.Context, tok sensitive.String, mount, key, ciphertext string) (string, error) {
	return c.transit(ctx, tok, "rewrapping", mount, "rewrap", key, map[string]any{"ciphertext": ciphertext}, "ciphertext")
}

// TransitSign signs inputB64 with key, which must be a signing type
// (ed25519, ecdsa-*, rsa-*); other keys are ErrInvalidRequest.
func (c *Client) TransitSign(ctx context.Context, tok sensitive.String, mount, key, inputB64 string) (string, error) {
	return c.transit(ctx, tok, "signing", mount, "sign", key, map[string]any{"input": inputB64}, "signature")
}

// TransitVerify reports whether signature is key's signature of inputB64.
// A well-formed signature that does not match is (false, nil); one that is
// not in Vault's format is ErrCiphertextInvalid.
func (c *Client) TransitVerify(ctx context.Context, tok sensitive.String, mount, key, inputB64, signature string) (bool, error) {
	const op = "verifying"
	full := transitPath(mount, "verify", key)
	s, err := c.send(ctx, tok, op, request{method: http.MethodPut, path: full, body: map[string]any{"input": inputB64, "signature": signature}})
	if err != nil {
		return false, err
	}
	var valid, ok bool
	if s != nil {
		valid, ok = s.Data["valid"].(bool)
	}
	if !ok {
		return false, missingField(op, full, "valid")
	}
	return valid, nil
}

// transit sends body to mount/action/key and returns the string field of
// the answer.
func (c *Client) transit(ctx context.Context, tok sensitive.String, op, mount, action, key string, body map[string]any, field string) (string, error) {
	full := transitPath(mount, action, key)
	s, err := c.send(ctx, tok, op, request{method: http.MethodPut, path: full, body: body})
	if err != nil {
		return "", err
	}
	var out string
	var ok bool
	if s != nil {
		out, ok = s.Data[field].(string)
	}
	if !ok {
		return "", missingField(op, full, field)
	}
	return out, nil
}

func transitPath(mount, action, key string) string {
	return strings.Trim(mount, "/") + "/" + action + "/" + key
}

func missingField(op, path, field string) error {
	return &Error{Kind: ErrInvalidRequest, Op: op, Path: path, Detail: "no " + field + " in response"}
}
