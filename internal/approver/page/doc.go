// Package page is Gatekeeper's approval page: every pending approval, of
// every strategy, gets a page on Gatekeeper's approval listener where the
// human sees the whole request and answers it, out of band, never through
// the agent's chat.
//
// What the page takes depends on how the approval is decided:
//
//   - a code (Vault's login MFA with TOTP): a code field; the approver
//     completes Vault's sys/mfa/validate with what the human types, so the
//     code never passes through the model's context;
//   - a passkey (the passkey approver): Approve and Deny buttons, each
//     needing a WebAuthn assertion bound to this request (package passkey);
//   - an answer elsewhere (a Duo push, Vault's own Duo method, the dev
//     prompt): the page says where, refreshes itself and shows the outcome.
//
// Every page has a Deny. A denial starts the cool-down, as a denial in
// any other place does.
//
// # The link
//
// A page lives at /approve/TOKEN, where TOKEN is 32 random bytes made for
// this request alone: the request id, which the agent and the audit log
// know, does not lead to it. The link is bound to one request and its
// digest (a code or a Deny posted with another digest is refused) and
// answers once: after the first answer that decides the request, or its
// expiry, the page shows only what became of it.
//
// The link reaches the human by every road there is (Open): the
// notifier (a webhook, ntfy, Slack), the MCP client of the call that
// started the approval (URL-mode elicitation, or the tool result for the
// agent to relay), the status page, and the announcer (stderr in stdio
// mode). None of these roads carries anything the human types.
//
// # What the page trusts
//
// Anyone with the link may see the request and deny it: the agent may hold
// the link (a client without elicitation relays it), and an agent denying
// its own request only stops itself. Nobody can approve with the link
// alone: approving needs what only the human has (the authenticator's
// current code, a registered passkey, their phone). Code attempts are
// bounded per request (MaxCodeAttempts) on top of Vault's own limit.
//
// POSTs must come from the page's own origin (Origin header), form bodies
// are bounded, the pages load only their own embedded style sheet and
// script (no inline script, no CDN), cannot be framed, are never cached and
// send a Referer only to themselves.
//
// Pending pages live in memory: a restart ends them, and their links then
// say the request is unknown.
package page
