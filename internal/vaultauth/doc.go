// Package vaultauth keeps Gatekeeper's own Vault identity: the bootstrap
// token (vault-mfa strategy) or the broker token (brokered strategy) that
// everything else borrows.
//
// The identity is either given (VAULT_TOKEN: a periodic token from setup,
// renewed while Gatekeeper runs and left alone at exit, since the operator
// owns it) or obtained by a login (AppRole, Kubernetes auth): then it is
// renewed while it can be, obtained again by a new login when it cannot be
// renewed any more or has died, and revoked when Gatekeeper stops. Parts
// that use it read the current token through Identity.Token at each call,
// so a new login reaches them without a restart.
//
// A token that cannot be kept alive is reported, never papered over: every
// call made with a dead token fails in Vault, so nothing is granted until a
// login succeeds again.
package vaultauth
