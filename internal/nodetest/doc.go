// Package nodetest gives the Go tests MCP clients that nobody here wrote: the
// official TypeScript SDK (through test/node/client.mjs), the MCP conformance
// suite's server scenarios, Claude Code's `claude mcp list` health check
// (servers added with `claude mcp add`, or a project's .mcp.json) and its
// CLI for lines a user pastes (ClaudeUser), the MCP
// Inspector's CLI mode, and mcp-remote, the stdio-to-HTTP bridge for
// stdio-only clients; and an OpenAPI validator for the REST API's document
// (ValidateOpenAPI). docs/clients.md gives the recipes these check.
//
// A server that only ever talked to our own Go client could agree with it on
// a misreading of the spec; these clients are the second opinion. They come
// from npm, pinned in test/node/package-lock.json, and Install puts them in
// test/node/node_modules the first time a test asks (about 30 s and 690 MB
// unpacked on a clean machine), so CI needs nothing but Go and npm.
//
// The conformance CLI needs Node 22 (fs.globSync) while the machine's node
// may be older, so the lockfile also pins the npm package "node", whose
// binary Node22 returns and every helper here runs scripts with.
//
// Everything listens on 127.0.0.1 and every child process has a deadline.
package nodetest
