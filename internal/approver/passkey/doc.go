// Package passkey approves requests on a web page with a WebAuthn passkey or
// security key. Approve records the request, sends the human a link
// (Options.Notify, for example a Webhook to ntfy or Slack) and waits; the
// page shows everything approver.Describe gives and two buttons, Approve
// and Deny, each of which needs a registered key with user verification.
//
// # Binding an answer to one request and one decision
//
// The WebAuthn challenge for an answer is
//
//	SHA-256(domain ‖ nonce ‖ request id ‖ request digest ‖ decision)
//
// with a fresh 32-byte random nonce and every field length-prefixed. The
// key signs the challenge (inside clientDataJSON), so a signature says
// which request, with which content, and which decision it answers. The
// server keeps each issued challenge under its request, spends it on the
// first answer that names it, whatever that answer's fate, and lets it die
// with the request (or after five minutes). An answer posted for another
// request finds no challenge there; one posted with the other decision, or
// for a request whose digest changed, fails the recomputed hash; one
// posted twice finds its challenge spent. Everything else (signature,
// origin, RP ID, user presence and verification, sign counter, backup
// flags) is verified by github.com/go-webauthn/webauthn.
//
// # The enroll token is single-use
//
// Registering a key is the one way around every approval, so the enroll
// token is a standing secret only until it is used: the first key it
// registers spends it, and the store remembers that (the SHA-256 of the
// token is kept with the key), so a restart with the same token does not
// reopen registration. A second key (a backup) needs a new token. A token
// that stayed valid for several keys would let whoever later finds it in a
// shell history, a config file or a chat log add their own key, silently.
//
// # What the page trusts
//
// Anyone with the link may see a request: its id is in the audit log and
// the agent knows it, and nothing on the page is secret. Only a registered
// key can answer. POSTs must come from one of Options.RPOrigins (Origin
// header) with a JSON body of at most 64 KiB; the pages load only their own
// embedded script and style sheet (no inline script, no CDN), cannot be
// framed and are never cached.
//
// Pending requests live in memory: a restart ends them (Approve's caller
// sees its context end) and their links then say the request is unknown.
package passkey
