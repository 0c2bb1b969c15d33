package suite

import "github.com/gatekeeper-mcp/gatekeeper/internal/child"

// cleanEnv is this process's environment without Vault and Gatekeeper
// settings, so that no child picks up a real server's address or token.
func cleanEnv() []string { return child.Env("VAULT_", "BAO_", "GATEKEEPER_", "HOME=") }
