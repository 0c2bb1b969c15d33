package vault_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

const transit = "transit"

// transitEnv mounts transit on a fresh server and creates keys: enc and
// other (aes256-gcm96), ed (ed25519), ec (ecdsa-p256).
func transitEnv(t *testing.T) env {
	t.Helper()
	e := start(t)
	ctx := t.Context()
	if _, err := e.c.Write(ctx, e.root, "sys/mounts/"+transit, map[string]any{"type": "transit"}); err != nil {
		t.Fatalf("enabling transit: %v", err)
	}
	for name, typ := range map[string]string{"enc": "aes256-gcm96", "other": "aes256-gcm96", "ed": "ed25519", "ec": "ecdsa-p256"} {
		if _, err := e.c.Write(ctx, e.root, transit+"/keys/"+name, map[string]any{"type": typ}); err != nil {
			t.Fatalf("creating key %s: %v", name, err)
		}
	}
	return e
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// tamper flips one bit of the base64 payload of a "vault:vN:..." string.
func tamper(t *testing.T, s string) string {
	t.Helper()
	i := strings.LastIndex(s, ":")
	raw, err := base64.StdEncoding.DecodeString(s[i+1:])
	if err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	raw[len(raw)/2] ^= 0x01
	return s[:i+1] + base64.StdEncoding.EncodeToString(raw)
}

func TestTransitEncryptDecrypt(t *testing.T) {
	t.Parallel()
	e := transitEnv(t)
	ctx := t.Context()
	const secret = "the launch codes"
	ct, err := e.c.TransitEncrypt(ctx, e.root, transit, "enc", b64(secret))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ct, "vault:v1:") || strings.Contains(ct, b64(secret)) {
		t.Fatalf("ciphertext %q: want vault:v1: and no plaintext", ct)
	}
	otherCT, err := e.c.TransitEncrypt(ctx, e.root, transit, "other", b64(secret))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		key        string
		ciphertext string
		wantErr    error
	}{
		{name: "ok", key: "enc", ciphertext: ct},
		{name: "fail/other-key", key: "other", ciphertext: ct, wantErr: vault.ErrCiphertextInvalid},
		{name: "fail/other-keys-ciphertext", key: "enc", ciphertext: otherCT, wantErr: vault.ErrCiphertextInvalid},
		{name: "fail/tampered", key: "enc", ciphertext: tamper(t, ct), wantErr: vault.ErrCiphertextInvalid},
		{name: "fail/no-prefix", key: "enc", ciphertext: "garbage", wantErr: vault.ErrCiphertextInvalid},
		{name: "fail/not-base64", key: "enc", ciphertext: "vault:v1:not*base64", wantErr: vault.ErrCiphertextInvalid},
		{name: "fail/future-version", key: "enc", ciphertext: strings.Replace(ct, "vault:v1:", "vault:v9:", 1), wantErr: vault.ErrCiphertextInvalid},
		{name: "fail/empty", key: "enc", ciphertext: "", wantErr: vault.ErrInvalidRequest},
		{name: "fail/unknown-key", key: "nokey", ciphertext: ct, wantErr: vault.ErrNotFound},
		{name: "fail/escapes-the-mount", key: "../keys/enc", ciphertext: ct, wantErr: vault.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := e.c.TransitDecrypt(ctx, e.root, transit, tt.key, tt.ciphertext)
			wantKind(t, err, tt.wantErr)
			noValue(t, err, secret, b64(secret))
			if tt.wantErr == nil && pt != b64(secret) {
				t.Errorf("plaintext = %q, want %q", pt, b64(secret))
			}
		})
	}

	encTests := []struct {
		name      string
		key       string
		plaintext string
		wantErr   error
	}{
		{name: "ok/empty-plaintext", key: "enc", plaintext: ""},
		{name: "fail/not-base64", key: "enc", plaintext: "not base64!", wantErr: vault.ErrInvalidRequest},
		{name: "fail/signing-key", key: "ed", plaintext: b64(secret), wantErr: vault.ErrInvalidRequest},
	}
	for _, tt := range encTests {
		t.Run("encrypt/"+tt.name, func(t *testing.T) {
			ct, err := e.c.TransitEncrypt(ctx, e.root, transit, tt.key, tt.plaintext)
			wantKind(t, err, tt.wantErr)
			noValue(t, err, secret, b64(secret), "not base64!")
			if tt.wantErr != nil {
				return
			}
			pt, err := e.c.TransitDecrypt(ctx, e.root, transit, tt.key, ct)
			if err != nil || pt != tt.plaintext {
				t.Errorf("round trip = %q, %v; want %q", pt, err, tt.plaintext)
			}
		})
	}
}

func TestTransitRewrap(t *testing.T) {
	t.Parallel()
	e := transitEnv(t)
	ctx := t.Context()
	const secret = "rotate me"
	v1, err := e.c.TransitEncrypt(ctx, e.root, transit, "enc", b64(secret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Write(ctx, e.root, transit+"/keys/enc/rotate", nil); err != nil {
		t.Fatalf("rotating: %v", err)
	}

	tests := []struct {
		name       string
		key        string
		ciphertext string
		wantErr    error
	}{
		{name: "ok", key: "enc", ciphertext: v1},
		{name: "fail/other-key", key: "other", ciphertext: v1, wantErr: vault.ErrCiphertextInvalid},
		{name: "fail/garbled", key: "enc", ciphertext: "junk", wantErr: vault.ErrCiphertextInvalid},
		{name: "fail/unknown-key", key: "nokey", ciphertext: v1, wantErr: vault.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v2, err := e.c.TransitRewrap(ctx, e.root, transit, tt.key, tt.ciphertext)
			wantKind(t, err, tt.wantErr)
			if tt.wantErr != nil {
				return
			}
			if !strings.HasPrefix(v2, "vault:v2:") || v2 == v1 {
				t.Fatalf("rewrapped %q to %q, want a vault:v2: ciphertext", v1, v2)
			}
			for _, ct := range []string{v1, v2} {
				pt, err := e.c.TransitDecrypt(ctx, e.root, transit, "enc", ct)
				if err != nil || pt != b64(secret) {
					t.Errorf("decrypting %.9s... = %q, %v; want the plaintext", ct, pt, err)
				}
			}
		})
	}

	// Once version 1 may no longer decrypt, its ciphertexts are refused as
	// invalid, not as missing.
	if _, err := e.c.Write(ctx, e.root, transit+"/keys/enc/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.TransitDecrypt(ctx, e.root, transit, "enc", v1)
	wantKind(t, err, vault.ErrCiphertextInvalid)
}

func TestTransitSignVerify(t *testing.T) {
	t.Parallel()
	e := transitEnv(t)
	ctx := t.Context()
	input := b64("release v1.2.3 sha256:abc")
	for _, key := range []string{"ed", "ec"} {
		t.Run(key, func(t *testing.T) {
			sig, err := e.c.TransitSign(ctx, e.root, transit, key, input)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(sig, "vault:v1:") {
				t.Fatalf("signature %q, want vault:v1:", sig)
			}
			tests := []struct {
				name      string
				key       string
				input     string
				signature string
				valid     bool
				wantErr   error
			}{
				{name: "ok", key: key, input: input, signature: sig, valid: true},
				{name: "fail/tampered-input", key: key, input: b64("release v1.2.4 sha256:abc"), signature: sig},
				{name: "fail/tampered-signature", key: key, input: input, signature: tamper(t, sig)},
				{name: "fail/garbled-signature", key: key, input: input, signature: "junk", wantErr: vault.ErrCiphertextInvalid},
				// Vault reads ed25519 signatures as raw bytes (any will do, and
				// fail to verify) and ecdsa ones as DER, which these are not.
				{name: "fail/undecodable-signature", key: key, input: input, signature: "vault:v1:AAAA", wantErr: map[string]error{"ec": vault.ErrCiphertextInvalid}[key]},
				{name: "fail/future-version", key: key, input: input, signature: strings.Replace(sig, "vault:v1:", "vault:v9:", 1), wantErr: vault.ErrCiphertextInvalid},
				{name: "fail/unknown-key", key: "nokey", input: input, signature: sig, wantErr: vault.ErrNotFound},
				{name: "fail/encryption-key", key: "enc", input: input, signature: sig, wantErr: vault.ErrInvalidRequest},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					valid, err := e.c.TransitVerify(ctx, e.root, transit, tt.key, tt.input, tt.signature)
					wantKind(t, err, tt.wantErr)
					if valid != tt.valid {
						t.Errorf("valid = %v, want %v", valid, tt.valid)
					}
				})
			}
		})
	}

	signTests := []struct {
		name    string
		key     string
		input   string
		wantErr error
	}{
		{name: "fail/encryption-key", key: "enc", input: input, wantErr: vault.ErrInvalidRequest},
		{name: "fail/unknown-key", key: "nokey", input: input, wantErr: vault.ErrNotFound},
		{name: "fail/not-base64", key: "ed", input: "not base64!", wantErr: vault.ErrInvalidRequest},
	}
	for _, tt := range signTests {
		t.Run("sign/"+tt.name, func(t *testing.T) {
			sig, err := e.c.TransitSign(ctx, e.root, transit, tt.key, tt.input)
			wantKind(t, err, tt.wantErr)
			if sig != "" {
				t.Errorf("signature %q alongside an error", sig)
			}
		})
	}
}

func TestTransitPermissionDenied(t *testing.T) {
	t.Parallel()
	e := transitEnv(t)
	ctx := t.Context()
	// An agent that may only encrypt with enc.
	tok := e.as(t, "enc-only", `path "transit/encrypt/enc" { capabilities = ["update"] }`)
	ct, err := e.c.TransitEncrypt(ctx, tok, transit, "enc", b64("x"))
	if err != nil {
		t.Fatalf("encrypting with the allowed key: %v", err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{name: "fail/decrypt", call: func() error { _, err := e.c.TransitDecrypt(ctx, tok, transit, "enc", ct); return err }},
		{name: "fail/rewrap", call: func() error { _, err := e.c.TransitRewrap(ctx, tok, transit, "enc", ct); return err }},
		{name: "fail/encrypt-other-key", call: func() error { _, err := e.c.TransitEncrypt(ctx, tok, transit, "other", b64("x")); return err }},
		{name: "fail/sign", call: func() error { _, err := e.c.TransitSign(ctx, tok, transit, "ed", b64("x")); return err }},
		{name: "fail/verify", call: func() error {
			_, err := e.c.TransitVerify(ctx, tok, transit, "ed", b64("x"), "vault:v1:AAAA")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantKind(t, tt.call(), vault.ErrPermissionDenied) })
	}

	// Encrypting to a missing key creates it when the token may create
	// keys; with update alone Vault refuses instead.
	upd := e.as(t, "enc-any", `path "transit/encrypt/*" { capabilities = ["update"] }`)
	_, err = e.c.TransitEncrypt(ctx, upd, transit, "brand-new", b64("x"))
	wantKind(t, err, vault.ErrPermissionDenied)
	if _, err := e.c.Read(ctx, e.root, transit+"/keys/brand-new"); err == nil {
		t.Error("a refused encrypt created the key")
	}
}
