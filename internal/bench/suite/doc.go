// Package suite is Gatekeeper's own benchmark, the table of
// docs/performance.md: it starts a Vault dev server and the local Duo fake,
// runs `gatekeeper setup --brokered` for many agents, starts `gatekeeper
// serve` over stdio and over HTTP with JWT auth, gives every agent a read
// grant, and measures with package bench what the issue asks: read_secret
// latency next to a direct Vault read, throughput at several numbers of
// concurrent agents, resident size per idle session, start-up time and the
// approval round trip, as medians of several runs, with the CPU each
// process spent and the load average of the machine.
//
// It drives the real binaries, as an operator and an agent would, so what
// it measures is what ships. It is not part of the tests: a full run takes
// many minutes (scripts/bench); the quick mode is a smoke run.
package suite
