// Package doctor checks, against the real Vault or OpenBao, everything
// gatekeeper serve needs before an agent asks for anything: the address and
// its TLS, Vault unsealed, the clocks agreeing, Gatekeeper's own token and
// its policies, the KV and transit mounts, each tier's login and its MFA,
// the approver and the audit sink.
//
// A broken setup must not look healthy: every check that fails says what
// failed and how to fix it, in words an operator can act on. The same
// checks serve `gatekeeper doctor` (one line each, or JSON), the start of a
// stdio server, which answers tool calls with the failing check's fix until
// it passes (Gate), and /readyz.
//
// A check reads; it changes nothing it finds. What comes closest: the
// login probe starts a read-tier login to see Vault demand its second
// factor (and gives back at once a token Vault issued without one); the
// token role probe asks for a token with a TTL Vault refuses; the audit
// check creates and removes an empty file in the folder of an audit file
// that does not exist yet.
package doctor
