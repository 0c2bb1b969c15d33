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
//	nonce ‖ expiry ‖ decision ‖ HMAC-SHA256(key, domain ‖ nonce ‖ expiry ‖ decision ‖ request id ‖ request digest)
//
// with a fresh 16-byte random nonce, every MACed field length-prefixed,
// and a key drawn at random when the process starts. The key signs the
// challenge (inside clientDataJSON), so a signature says which request,
// with which content, and which decision it answers. An answer posted for
// another request, or for a request whose digest changed, fails the MAC;
// one posted with the other decision says so in the clear part; one posted
// after its expiry (five minutes, never beyond the request's) is refused.
// The first answer that names an authentic challenge spends it, whatever
// that answer's fate, so one posted twice finds it spent. Everything else
// (signature, origin, RP ID, user presence and verification, sign counter,
// backup flags) is verified by github.com/go-webauthn/webauthn.
//
// # Nobody can displace the human's answer
//
// Anyone with the page's link may press a button, and the agent may hold
// the link. Begin therefore keeps nothing: the challenge carries what
// Finish needs, so however many challenges anyone asks for, none evicts
// or crowds out the one the human's key is signing, and a signed Deny (or
// Approve) always lands. The server remembers only spent challenges, until
// they expire or their request ends.
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
