// Package cli is Gatekeeper's command line: it parses arguments, reads the
// configuration and wires the parts together for each command.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// IO is what a command may touch of its process.
type IO struct {
	Stdin   io.ReadCloser
	Stdout  io.Writer
	Stderr  io.Writer
	Environ []string
	// Hangup delivers SIGHUP to serve, which reloads its configuration;
	// nil never does.
	Hangup <-chan os.Signal
}

// ErrUsage means the arguments were wrong; usage has been printed.
var ErrUsage = errors.New("usage")

// ErrHelp means help was asked for and printed; nothing else ran.
var ErrHelp = errors.New("help")

const usage = `Gatekeeper: earned, time-boxed access to Vault/OpenBao secrets for AI agents.

Usage:
  gatekeeper serve [--http ADDR]   serve MCP over stdio, or Streamable HTTP for many agents
  gatekeeper setup [--agent NAME]  make a Vault/OpenBao ready for Gatekeeper (admin VAULT_TOKEN)
  gatekeeper policy                print the policies setup would write, touching nothing
  gatekeeper dev                   run a local dev Vault, set it up and print how to connect an agent
  gatekeeper token --sub AGENT     mint a development JWT (HS256, $GATEKEEPER_JWT_SECRET)
  gatekeeper apikey                generate an API key and the hash for the config file
  gatekeeper doctor [--json]       check against the real Vault everything serve needs, with a fix for each failure
  gatekeeper config check          validate the configuration file and environment only (no Vault)
  gatekeeper audit verify FILE...  check the audit files' hash chain and report the first problem
  gatekeeper version [--json]      print the version and build information

Run "gatekeeper COMMAND -h" for a command's flags. Settings come from the
environment (VAULT_ADDR, VAULT_TOKEN, GATEKEEPER_*) and an optional YAML
config file (GATEKEEPER_CONFIG or --config); see the README.
`

// Run runs the command named by args (without the program name).
func Run(ctx context.Context, args []string, sys IO) error {
	if len(args) == 0 {
		fmt.Fprint(sys.Stderr, usage)
		return ErrUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, sys)
	case "setup":
		return setupCmd(ctx, rest, sys)
	case "policy":
		return policyCmd(rest, sys)
	case "dev":
		return dev(ctx, rest, sys)
	case "token":
		return tokenCmd(rest, sys)
	case "apikey":
		return apikeyCmd(rest, sys)
	case "config":
		return configCmd(rest, sys)
	case "doctor":
		return doctorCmd(ctx, rest, sys)
	case "audit":
		return auditCmd(rest, sys)
	case "version", "--version":
		return versionCmd(rest, sys)
	case "help", "-h", "--help":
		fmt.Fprint(sys.Stdout, usage)
		return nil
	}
	fmt.Fprintf(sys.Stderr, "gatekeeper: unknown command %q\n\n%s", cmd, usage)
	return ErrUsage
}

// flags returns a FlagSet that prints its usage to stderr and reports
// errors instead of exiting.
func flags(name, summary string, sys IO) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(sys.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(sys.Stderr, "Usage: gatekeeper %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return ErrUsage
	}
	return nil
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
