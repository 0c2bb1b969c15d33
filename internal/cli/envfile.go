package cli

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/joho/godotenv"

	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
)

// envFileFlag registers --env-file on fs.
func envFileFlag(fs *flag.FlagSet) *string {
	return fs.String("env-file", "", "read settings from this .env file before the environment, which wins (overrides GATEKEEPER_ENV_FILE)")
}

// environ is the environment a command is configured from: the .env file
// (envFile, else $GATEKEEPER_ENV_FILE, else none) first, then the real
// environment, so that a variable set in both takes the environment's
// value. Everything goes through config.Load, which refuses an unknown
// GATEKEEPER_ key from either place. Live reload calls this again to read
// the same sources.
func environ(sys IO, envFile string) ([]string, error) {
	if envFile == "" {
		envFile = lookup(sys.Environ, "GATEKEEPER_ENV_FILE")
	}
	if envFile == "" {
		return sys.Environ, nil
	}
	b, err := os.ReadFile(envFile)
	if err != nil {
		return nil, fmt.Errorf("reading the env file: %w", err)
	}
	vars, err := godotenv.UnmarshalBytes(b)
	if err != nil {
		// The parser's message may quote a line, and a line may hold a secret.
		return nil, fmt.Errorf("env file %s is not KEY=VALUE lines", envFile)
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var secrets []string
	out := make([]string, 0, len(vars)+len(sys.Environ))
	for _, k := range keys {
		switch {
		case config.HoldsSecret(k):
			secrets = append(secrets, k)
		case !config.Known(k) && !strings.HasPrefix(k, "GATEKEEPER_"):
			// The Vault client's own variables (VAULT_CACERT, …) are read
			// from the process environment only.
			fmt.Fprintf(sys.Stderr, "gatekeeper: warning: %s in %s is not a Gatekeeper setting and has no effect there; set it in the environment\n", k, envFile)
		}
		out = append(out, k+"="+vars[k])
	}
	if len(secrets) > 0 {
		if fi, err := os.Stat(envFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(sys.Stderr, "gatekeeper: warning: %s holds secrets (%s) and others may read it (mode %04o): chmod 600 it\n",
				envFile, strings.Join(secrets, ", "), fi.Mode().Perm())
		}
	}
	return append(out, sys.Environ...), nil
}

// lookup is the value of key in env, "" if absent.
func lookup(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
