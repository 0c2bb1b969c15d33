// Package passkey approves requests with a WebAuthn passkey or security
// key. Approve opens the request's approval page (package page, which sends
// the human its link and shows everything approver.Describe gives) with two
// buttons, Approve and Deny, each of which needs a registered key with user
// verification; this package verifies those answers (page.Ceremony) and
// serves the registration page on the same listener.
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
// Anyone with the link may see a request (nothing on the page is secret);
// only a registered key can answer it, Approve or Deny. The page package
// checks every POST's Origin and bounds its body; WebAuthn checks the
// assertion's origin against Options.RPOrigins.
package passkey
