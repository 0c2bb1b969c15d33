package passkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"
)

// softKey is an authenticator in software, for the forged-input tests that
// a browser will not produce: it signs whatever the test makes it say.
type softKey struct {
	id    []byte
	priv  *ecdsa.PrivateKey
	count uint32
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{id: id, priv: priv}
}

// cose is the public key as a COSE_Key (EC2, ES256, P-256) in CBOR.
func (k *softKey) cose(t *testing.T) []byte {
	t.Helper()
	pt, err := k.priv.PublicKey.Bytes() // 0x04 ‖ X ‖ Y
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20}
	b = append(b, pt[1:33]...)
	b = append(b, 0x22, 0x58, 0x20)
	return append(b, pt[33:65]...)
}

func (k *softKey) credential(t *testing.T, name string) Credential {
	return Credential{ID: k.id, PublicKey: k.cose(t), Name: name, Created: time.Now().UTC()}
}

// assertion is what the key signs, field by field, so a test can forge any.
type assertion struct {
	typ        string
	challenge  []byte
	origin     string
	rpID       string
	flags      byte // 0x01 user present, 0x04 user verified
	count      uint32
	userHandle []byte
	id         []byte
	signer     *ecdsa.PrivateKey
}

func (k *softKey) assertion(challenge []byte, origin string) *assertion {
	k.count++
	return &assertion{
		typ: "webauthn.get", challenge: challenge, origin: origin, rpID: "localhost",
		flags: 0x05, count: k.count, userHandle: operatorHandle, id: k.id, signer: k.priv,
	}
}

// json is the PublicKeyCredential as the page posts it.
func (a *assertion) json(t *testing.T) json.RawMessage {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	clientData, err := json.Marshal(map[string]any{
		"type": a.typ, "challenge": enc(a.challenge), "origin": a.origin, "crossOrigin": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	rpHash := sha256.Sum256([]byte(a.rpID))
	authData := append(rpHash[:], a.flags)
	authData = binary.BigEndian.AppendUint32(authData, a.count)
	cdHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.signer, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	resp := map[string]any{
		"clientDataJSON":    enc(clientData),
		"authenticatorData": enc(authData),
		"signature":         enc(sig),
	}
	if a.userHandle != nil {
		resp["userHandle"] = enc(a.userHandle)
	}
	b, err := json.Marshal(map[string]any{
		"id": enc(a.id), "rawId": enc(a.id), "type": "public-key",
		"clientExtensionResults": map[string]any{}, "response": resp,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attestation is the key's answer to a registration: "none" attestation,
// flags 0x45 (user present, user verified, credential data) unless changed.
func (k *softKey) attestation(t *testing.T, challenge []byte, origin string, flags byte) json.RawMessage {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	clientData, err := json.Marshal(map[string]any{
		"type": "webauthn.create", "challenge": enc(challenge), "origin": origin, "crossOrigin": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	rpHash := sha256.Sum256([]byte("localhost"))
	authData := append(rpHash[:], flags, 0, 0, 0, 0)
	authData = append(authData, make([]byte, 16)...) // AAGUID
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(k.id)))
	authData = append(authData, k.id...)
	authData = append(authData, k.cose(t)...)
	if len(authData) > 255 {
		t.Fatal("authData too long for this encoder")
	}
	obj := []byte{0xa3, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e',
		0x67, 'a', 't', 't', 'S', 't', 'm', 't', 0xa0,
		0x68, 'a', 'u', 't', 'h', 'D', 'a', 't', 'a', 0x58, byte(len(authData))}
	obj = append(obj, authData...)
	b, err := json.Marshal(map[string]any{
		"id": enc(k.id), "rawId": enc(k.id), "type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": enc(clientData), "attestationObject": enc(obj), "transports": []string{"internal"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
