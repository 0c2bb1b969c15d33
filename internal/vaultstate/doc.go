// Package vaultstate keeps the shared state of Gatekeeper's replicas in the
// Vault or OpenBao cluster they already trust: no new infrastructure, and
// nothing outside Vault's own access control, audit devices and storage.
//
// Each principal and tier has one KV v2 record (a slot) under Gatekeeper's
// own folder, KV_MOUNT/gatekeeper/state/slots/PRINCIPAL/TIER, outside every
// agent's prefix. Every write is a check-and-set on the version read
// (cas): of two replicas that claim the same pending approval, or publish
// a grant, or end one, exactly one succeeds and the other reads again.
// Records are never deleted, only rewritten, so the version sequence never
// restarts. Heartbeats live beside them, under state/replicas/ID, and those
// of replicas gone for an hour are pruned.
//
// A grant's token never reaches KV in plain text: the whole grant
// (principal, tier, scope, paths, token, accessor, approval id, times) is
// sealed with the transit key gatekeeper-state, which only Gatekeeper's own
// identity may use (and nobody may export). The record also carries the
// grant without its token, in the clear, for the operator's view and for
// cheap revalidation; where the two differ, the access model believes the
// sealed copy and never grants more than either says. A record that does
// not parse, or that sits at a place it does not name, or a seal that does
// not open or names another place, counts as absent.
//
// Errors that mean "the store did not answer" (unreachable, sealed,
// permission denied) are passed on as the vault package classifies them;
// the access model then grants nothing.
package vaultstate
