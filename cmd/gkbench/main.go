// Command gkbench measures MCP servers: any server's tool calls (run), its
// memory per idle session (idle), and Gatekeeper's whole benchmark against
// a Vault it starts (suite). See docs/performance.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/gatekeeper-mcp/gatekeeper/internal/bench"
	"github.com/gatekeeper-mcp/gatekeeper/internal/bench/suite"
)

const usage = `gkbench: measure an MCP server.

Usage:
  gkbench run   --stdio "CMD ARGS" | --url URL   --tool NAME --args JSON   latency and calls/s of one tool
  gkbench run   --direct-vault ADDR --token-file F --kv MOUNT/PATH         the same for a direct Vault read
  gkbench idle  --url URL --pid PID                                        resident size per idle session
  gkbench suite --gatekeeper BIN --vault-bin BIN [--quick]                 Gatekeeper's full benchmark

"gkbench COMMAND -h" lists a command's flags. Without a command, the flags
are run's.
`

func main() {
	// The load generator shares the machine with the servers it measures:
	// the less CPU its own garbage collection takes, the less it disturbs
	// them. The MCP SDK allocates a 32 KB buffer per JSON message decoded,
	// so a larger GC target cuts the client's CPU per call substantially.
	// GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, bench.ErrUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "gkbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return bench.ErrUsage
	}
	switch args[0] {
	case "run":
		return bench.RunCommand(ctx, args[1:], stdout, stderr)
	case "idle":
		return bench.IdleCommand(ctx, args[1:], stdout, stderr)
	case "suite":
		return suite.Command(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if strings.HasPrefix(args[0], "-") {
		return bench.RunCommand(ctx, args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "gkbench: unknown command %q\n\n%s", args[0], usage)
	return bench.ErrUsage
}
