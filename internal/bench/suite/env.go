package suite

import (
	"os"
	"strings"
)

// cleanEnv is this process's environment without Vault settings, so that
// no child picks up a real server's address or token.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "BAO_") || strings.HasPrefix(kv, "GATEKEEPER_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
