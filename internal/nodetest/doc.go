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
// The conformance CLI, Claude Code and the Inspector need Node 22 while the
// machine's node may be older (20), so test/node/runtime pins the npm
// package "node" at 22: Install puts it in first, runs npm ci of the
// clients on it (so no package's engines are missed, and npm refuses an
// install that would miss one), and Node22 returns it for every helper
// here to run scripts with.
//
// Everything listens on 127.0.0.1 and every child process has a deadline.
package nodetest
