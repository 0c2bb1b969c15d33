// Package clientauth authenticates HTTP callers: API keys, JWTs (HS256 or
// keys from a JWKS / OIDC issuer) and client certificates (direct mTLS, or
// from a terminating proxy at a trusted address). Each method turns one kind
// of credential into an Identity whose Agent is the principal the access
// model keys everything by. It never logs or returns a credential.
//
// # One credential decides
//
// A Method answers in one of three ways: an Identity, ErrNoCredential ("not
// my kind, ask the next one") or an error wrapping ErrInvalid ("presented
// and refused"). Chain runs methods in order and stops at the first that
// found a credential; a refusal is never retried with another method, so a
// caller cannot fish for the weakest check by sending several credentials.
// The kinds are kept apart on purpose: a bearer value shaped like a JWT is
// only ever a JWT, anything else in Authorization: Bearer is only ever an
// API key.
//
// # Order
//
// Put the mTLS method first: Chain(mtls, apiKeys, jwt). It also polices the
// proxy identity header (see MTLS). Chain keeps that rule whatever the
// order — it lets every method veto a request before any of them
// authenticates it — but a caller that runs methods by hand must run the
// mTLS method first to keep it. The order of the others matters only for a
// request that carries two kinds of credential, and then the first decides.
//
// # Refusals
//
// A refusal's text is "invalid credential: <method>: <reason>", built from
// constant strings: it may be shown to the caller and written to the audit
// log. It never holds the token, key, certificate or header it refused.
package clientauth
