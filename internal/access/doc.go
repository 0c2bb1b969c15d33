// Package access is Gatekeeper's access model: who the agent is (Principal),
// what it may do (Tier), what it holds (Grant) and how it earns more (an
// approval Request that a human decides).
//
// An agent starts with nothing. Read access and then write access are each
// earned through an approval, are bounded in time and are backed by a real
// Vault token that the Issuer obtains and that Vault enforces:
//
//	none ──approve──▶ read ──approve──▶ write
//	        (default 4h, renewed by a    (default 15m, hard, never renewed;
//	         new approval on expiry)      on expiry revoke and drop to read)
//
// Everything that is not an approval leaves the agent with no new access:
// denial, timeout, a refused passcode, an unreachable Vault, shutdown. Every
// grant that ends is revoked in Vault, not just forgotten, and every token
// must come back from the Issuer with a TTL no longer than its grant, so a
// killed process leaves nothing usable past expiry.
//
// This package knows nothing of MCP, HTTP or Vault's API. The Manager is the
// one place that answers "what happens when an agent escalates".
//
// One process keeps everything in memory. Several replicas behind a load
// balancer share grants and pending approvals through a Shared store
// (shared.go; kept in Vault by package vaultstate): each principal and
// tier has one slot, changed only by check-and-set, so that one replica
// runs each approval while the others wait for its result (claim.go), and
// each replica keeps the grants it uses in a cache that it revalidates
// against the store within a bounded interval (cache.go). Whoever removes a
// grant from the store revokes it (ending.go, operator_shared.go), and only
// the last replica out revokes everything at shutdown (replicas.go).
package access
