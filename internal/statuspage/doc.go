// Package statuspage is the operator's page of an HTTP-mode Gatekeeper: who
// holds what right now (live grants per agent with tier, paths, expiry,
// approval id and Vault token accessor), which approvals wait for a human,
// the last audit events, and a revoke button per grant and per agent that
// ends access in Vault at once. It answers "who got what, approved by whom,
// and is it still live?" and cuts access off in one click.
//
// It is laid out for an incident: the approvals waiting for a human come
// first (with their age and a Deny button); then one row per agent (tier,
// time left as a bar, last action, its approval requests over the last hour
// as a small chart on a scale shared by every agent, so a looping agent
// stands out); then the grants; then the events, filtered by a GET form
// (agent, event type, outcome), with each agent's routine successful
// authentications folded into one row (recent.go counts them instead of
// keeping them, so they never push the rest out). Everything shown is
// bounded: events kept, agents counted and listed, request times per agent,
// chart buckets.
//
// It is plain server-rendered HTML from embedded templates and one embedded
// style sheet: no script at all, no framework, nothing from another origin
// (the machines it runs on often reach nothing outside); bars and charts are
// inline SVG drawn on the server. Every action is a POST form and the
// filter a GET form, so it works with JavaScript turned off.
//
// # Who may use it
//
// One operator token (GATEKEEPER_OPERATOR_TOKEN or a file, at least 32
// bytes) is entered once on a sign-in form and compared in constant time;
// a right token starts a random server-side session (only its SHA-256 is
// kept) in an HttpOnly, SameSite=Strict cookie, Secure under TLS, with a
// bounded lifetime and a sign-out button. The right token is always let in:
// only wrong ones are limited, per client address (five in a row, then one
// every 10 seconds; a bounded number of addresses remembered), so nobody
// can lock the operator out of the revoke button by sending wrong tokens.
// Every sign-in, right or wrong, is audited, and a run of refused wrong
// tokens once; a sign-in that cannot be audited is refused.
//
// # What a request must carry
//
// Like the passkey approval page, the page has a listener of its own,
// loopback unless TLS is configured. Every request must name one of the
// page's own hosts (a DNS-rebinding page cannot talk to it under another
// name). Every POST must come from one of the page's own origins (Origin
// header), carry an urlencoded body of at most a few KiB and, once signed
// in, the session's CSRF token. Responses cannot be framed, cached or
// sniffed, and the Content-Security-Policy allows only the page's own style
// sheet and forms posted to itself. Every refusal shows what went wrong and
// changes nothing.
//
// # What revoking does
//
// The page only asks the access model (access.Manager.RevokeGrant and
// RevokeAgent): the grant's token is revoked in Vault, the revocation is
// audited as grant.revoked "revoked by an operator" with the operator's
// session reference as correlation id, pending approvals of the agent are
// cancelled, and the agent's next call needs a new approval. A revoke
// button names the approval behind the grant shown, so a click never ends a
// newer grant the operator has not seen.
//
// # What denying does
//
// Deny asks the access model (access.Manager.DenyApproval): that one
// pending approval ends as a human's denial does (no grant, whatever the
// human answers later; the denial cool-down; the agent told it was
// denied), audited as approval.decided "denied by an operator" with the
// operator's session reference. What the agent already holds stays.
//
// # Reloading the configuration
//
// When the server gives it a Reload function, the page has a Reload button
// (POST /reload, checked like a revocation): Gatekeeper reads its
// configuration again and either makes it live or refuses it whole; the
// page says which, and why. The page does not know what a configuration
// is: reading, checking and auditing it is the server's.
package statuspage
