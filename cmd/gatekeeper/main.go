// Command gatekeeper is a zero-standing-access secrets broker for AI agents:
// an MCP server between agents and Vault/OpenBao. See the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatekeeper-mcp/gatekeeper/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sys := cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()}
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// serve reloads its configuration on SIGHUP; for every other
		// command a hangup keeps its default: the process ends.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		sys.Hangup = hup
	}
	err := cli.Run(ctx, os.Args[1:], sys)
	switch {
	case err == nil, errors.Is(err, cli.ErrHelp):
	case errors.Is(err, cli.ErrUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "gatekeeper:", err)
		os.Exit(1)
	}
}
