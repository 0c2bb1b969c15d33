package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/doctor"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// startWait bounds how long a stdio server waits for its start-up checks
// before it answers the client.
const startWait = 5 * time.Second

// startChecks runs gatekeeper doctor's checks as a stdio server starts:
// while one fails, every tool call is answered with that check and its fix
// (the client shows it; the log alone nobody reads), the checks running
// again at most once per interval, so a Vault that comes back is noticed.
// Everything else (initialize, tools/list) is served as usual.
func (c *core) startChecks(ctx context.Context, server *mcp.Server) {
	gate := doctor.NewGate(serveChecks(c.settings().cfg, c.vault, c.ownToken, c.approverReady), doctor.GateOptions{Logger: c.logger})
	// The first run before the first answer, so that the client's first
	// call meets its result; a Vault that does not answer at all holds
	// the start for startWait at most.
	wctx, cancel := context.WithTimeout(ctx, startWait)
	gate.Failure(wctx)
	cancel()
	server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method != "tools/call" {
				return next(ctx, method, req)
			}
			r, failing := gate.Failure(ctx)
			if !failing {
				return next(ctx, method, req)
			}
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: notReady(r)}}}, nil
		}
	})
}

// ownToken is Gatekeeper's own token as the checks take it.
func (c *core) ownToken(context.Context) (sensitive.String, error) { return c.own.Token(), nil }

// notReady is the answer to a tool call while a start-up check fails: what
// failed and the fix, for the human who runs Gatekeeper.
func notReady(r doctor.Result) string {
	return fmt.Sprintf("Gatekeeper cannot serve this call: its start-up check %q failed: %s.\n"+
		"Fix (for the person who runs Gatekeeper; retrying will not help until it is done): %s.\n"+
		"`gatekeeper doctor` lists every check.", r.Name, r.Detail, r.Fix)
}
