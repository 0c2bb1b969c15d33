package cli

import (
	"context"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/httpserver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
	"github.com/gatekeeper-mcp/gatekeeper/internal/restapi"
)

// restAPI is the REST API served under /v1/ beside /mcp: the same
// operations as the MCP tools, one table for every agent (each call says
// who calls, and its scopes decide as for a tool).
func (c *core) restAPI() (*httpserver.REST, error) {
	api, err := restapi.New(restapi.Options{
		Operations:   mcptools.NewOperations(c.toolOptions()),
		Caller:       restCaller,
		MaxBodyBytes: c.settings().cfg.HTTP.MaxBodyBytes,
		Version:      Version,
	})
	if err != nil {
		return nil, err
	}
	return &httpserver.REST{API: api, Document: api.Document()}, nil
}

// restCaller is the agent the HTTP server authenticated for a REST
// request, with its effective scopes.
func restCaller(ctx context.Context) (mcptools.Caller, bool) {
	agent, scopes, ok := httpserver.CallerOf(ctx)
	return mcptools.Caller{Principal: access.Principal(agent), Scopes: scopes}, ok
}
