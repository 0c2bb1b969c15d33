// Package restapi is Gatekeeper's REST API, for callers that do not speak
// MCP (CI scripts, function-calling frameworks): the same operations as the
// MCP tools, reached by plain HTTP under /v1/.
//
// It is a thin adapter, like the tools: a route turns a request into an
// operation's input and calls mcptools.Operations, which checks the
// caller's scopes, the rate limit, the access model's tiers and approvals
// and writes the audit trail exactly as for an MCP tool. Who the caller is
// comes from the HTTP server's authentication (API key, JWT, mTLS); this
// package never sees a credential. Errors carry the tools' messages and
// correlation ids with honest status codes, and the OpenAPI 3.1 document at
// /v1/openapi.json is generated from the operations' own schemas and this
// package's route table, so it lists every route there is.
package restapi
