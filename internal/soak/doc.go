// Package soak runs Gatekeeper for minutes under load while it breaks the
// things around it, then checks that nothing failed open.
//
// A hundred agents call read and write tools over HTTP, each with its own
// API key, folder and grants, while the run kills and restarts Vault, seals
// and unseals it, and kills Gatekeeper with SIGKILL and starts it again.
// Vault keeps its data in files (a dev server would forget everything on
// restart), so its restarts, seals and the tokens that outlive a killed
// Gatekeeper are real. Afterwards the run checks, from the agents' side, the
// audit trail and Vault itself, that no agent held access it had not been
// granted, that no token outlives what its grant allows, that no secret
// reached a log, that goroutines and file descriptors do not grow, and that
// the audit chain verifies; then it writes a markdown report.
//
// The package holds the machinery and the checks, which have unit tests in
// the ordinary suite. The run itself is a test behind the soak build tag
// (scripts/soak), so it stays out of the default test command.
package soak
