// Package bench measures an MCP server the way an agent uses it: concurrent
// clients calling one tool with fixed arguments, for a duration or a count,
// after a warm-up, reporting latency percentiles and throughput; and, as the
// baseline, the same KV read sent straight to Vault with the OpenBao API
// client. It also reads a process's resident size and CPU time from /proc.
//
// Nothing in it knows Gatekeeper: any MCP server reachable over stdio (a
// command line) or Streamable HTTP (a URL and headers) can be measured, so
// the same numbers can be taken for another server on the same machine.
// The Gatekeeper-specific run (a Vault, setup, approvals, the full table)
// is the suite sub-package.
package bench
