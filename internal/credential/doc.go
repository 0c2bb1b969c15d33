// Package credential issues credentials from Vault's dynamic-secrets
// engines (a database login, a certificate, a signed SSH key) for an agent,
// with the token of the agent's own grant, so that they die with it.
//
// Zero standing access reaches all the way down: Vault ties a credential's
// lease to the token that asked for it and revokes the lease when the
// token is revoked or expires. A grant's token lives exactly as long as the
// grant (expiry, release, logout, an operator's revocation, shutdown), so
// the database role is dropped and the certificate revoked when the grant
// ends, even if Gatekeeper was killed, even if the model leaked the value.
// A credential's own lifetime is also cut to the grant's: a database lease
// is shortened to it, a certificate is issued with not_after at the grant's
// end, an SSH certificate with a TTL that ends before it; each is checked
// after issue and given back if Vault made it longer.
//
// The operator names each credential an agent may ask for and maps it to
// an engine, a role and the tier whose grant it needs (package config,
// "credentials:"); setup gives each tier policy exactly those roles' paths.
// A signed SSH certificate has no lease: it cannot be revoked, only expire,
// which it does no later than its grant.
//
// What the agent is shown follows the reveal rules, at the path
// credentials/NAME: a withheld credential's fields can still be used,
// never read, through {{credential "NAME" "FIELD"}} placeholders (package
// secretuse). Every issue and every end is audited with the lease id,
// never a value.
package credential
