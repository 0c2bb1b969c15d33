// Package child helps start a server as a child process on this machine:
// an environment without the caller's settings that would point it at
// something else, a free loopback port for it to listen on, and a Proc to
// kill, signal, stop or start it again.
package child

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Env is this process's environment without the variables whose
// "NAME=value" begins with any of drop: "VAULT_" drops every Vault
// setting, "HOME=" the home directory alone.
func Env(drop ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, d := range drop {
			if strings.HasPrefix(kv, d) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
