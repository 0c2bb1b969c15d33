// Package audit writes one JSON line per decision Gatekeeper makes: every
// authentication, tool call, approval and grant. It is a stream of its own,
// separate from debug logs, written to one or more sinks (a rotating file,
// stderr, syslog, an HTTP collector), each by a writer of its own so that a
// slow sink holds up nobody else's record. Like Vault's audit devices, a
// decision that cannot be recorded is refused: each caller waits for its
// own record in every sink. Failed authentications, which cost their
// sender nothing, are counted rather than written one by one.
//
// With a key, the stream is a hash chain: each line carries its sequence
// number, the MAC of the line before and its own HMAC-SHA256 over its
// bytes, so a record cannot be edited, inserted, removed or moved without
// Verify noticing, and nobody without the key can rebuild the chain after
// doing so. The Log computes the chain once, so every sink gets the same
// line; the file sink continues it across restarts and rotated files. The
// last MAC (the head) kept anywhere else lets Verify detect a set that
// was cut short. See docs/audit.md.
//
// It never carries a secret value, a token or a passcode: Event has only
// plain fields, and the types that hold secrets (sensitive.String) cannot
// be put in one without an explicit Reveal, which no caller makes.
package audit
