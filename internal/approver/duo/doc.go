// Package duo asks the human with a Duo push, sent by Gatekeeper itself
// through Duo's Auth API v2 (the "brokered tokens" strategy), so the push
// can carry the request: the push title names the tier and the agent, and
// its pushinfo lists every field of approver.Describe. The human compares
// the digest with what the agent says it asked for.
//
// The push is asynchronous (async=1): Approve sends it, then polls
// auth_status until Duo has an answer, req.Expires passes or ctx ends. Each
// call waits on its own; nothing shared is held while a push is pending,
// so one unanswered phone never holds up another agent's approval.
//
// Only "allow" is access. Before pushing, preauth refuses users who are not
// enrolled, are locked out, or bypass two-factor (Duo would answer "allow"
// with nobody having looked at the request). Every call goes through
// Duo's official Go client, which signs it with the secret key; the key is
// a sensitive.String everywhere else and is never logged.
package duo
