package execsecret

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// MinValueLen is the shortest secret value Run accepts, measured after
// trimming surrounding whitespace: the redactor's minimum.
const MinValueLen = secretuse.MinValueLen

var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)

// deniedNames are variables no operator may allow a secret to set, because
// their value is read as code, as a file to load, or as where to find
// programs or send traffic. An agent that can write secrets chooses their
// values, so these would turn a write into code execution or interception.
// The boundary is Options.Env, an allowlist per command; this list only
// catches the well-known mistakes in it. It is not complete and cannot be:
// any program may read any variable.
var deniedNames = []string{
	// Shells and the environment a program starts in.
	"BASHOPTS", "BASH_ENV", "CDPATH", "ENV", "GLOBIGNORE", "HOME", "IFS",
	"INPUTRC", "PATH", "PROMPT_COMMAND", "PS4", "SHELL", "SHELLOPTS", "TMPDIR",
	"ZDOTDIR",
	// glibc.
	"GCONV_PATH", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
	"NLSPATH", "RES_OPTIONS",
	// Interpreters and runtimes.
	"CLASSPATH", "DOTNET_STARTUP_HOOKS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS",
	"NODE_OPTIONS", "NODE_PATH", "PERL5DB", "PERL5LIB", "PERL5OPT", "PERLLIB",
	"RUBYLIB", "RUBYOPT", "_JAVA_OPTIONS",
	// Programs that run a helper named by a variable.
	"BROWSER", "EDITOR", "LESSCLOSE", "LESSOPEN", "PAGER", "SSH_ASKPASS",
	"SSH_AUTH_SOCK", "VISUAL",
	// Programs that load their configuration (which may run commands or
	// name a helper) from a file a variable names.
	"CURL_HOME", "DOCKER_CONFIG", "GNUPGHOME", "KUBECONFIG", "OPENSSL_CONF",
	"OPENSSL_ENGINES", "OPENSSL_MODULES", "PGSERVICEFILE", "PGSYSCONFDIR",
	"PSQLRC", "WGETRC",
	// Where traffic goes, whom TLS trusts, where session keys are written.
	"ALL_PROXY", "CURL_CA_BUNDLE", "HTTPS_PROXY", "HTTP_PROXY", "NODE_EXTRA_CA_CERTS",
	"NO_PROXY", "REQUESTS_CA_BUNDLE", "SSLKEYLOGFILE", "SSL_CERT_DIR", "SSL_CERT_FILE",
}

// deniedPrefixes: the dynamic loaders (LD_PRELOAD, LD_AUDIT, …;
// DYLD_INSERT_LIBRARIES, …), Python (PYTHONSTARTUP, PYTHONPATH, …), git
// (GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_CONFIG_*, …), Lua (LUA_INIT,
// LUA_PATH, …), npm (NPM_CONFIG_*) and the XDG base directories
// (XDG_CONFIG_HOME, …), where many programs find their configuration.
var deniedPrefixes = []string{"LD_", "DYLD_", "PYTHON", "GIT_", "LUA_", "NPM_CONFIG_", "XDG_"}

// DeniedNames returns the variable names no operator may allow.
func DeniedNames() []string { return slices.Clone(deniedNames) }

// DeniedPrefixes returns the prefixes of variable names no operator may
// allow.
func DeniedPrefixes() []string { return slices.Clone(deniedPrefixes) }

func checkName(name string) error {
	if !envName.MatchString(name) {
		return fmt.Errorf("%w: %q is not a valid name (upper-case letters, digits and _, not starting with a digit, at most 64)", ErrInvalidEnv, name)
	}
	return nil
}

// CheckAllowedName checks a name the operator allows a secret to set
// (Options.Env): a valid name, and none that makes programs load code or
// configuration from where its value points.
func CheckAllowedName(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if slices.Contains(deniedNames, name) {
		return fmt.Errorf("%w: %s makes programs load code or configuration from where its value points, so no secret may set it", ErrInvalidEnv, name)
	}
	for _, p := range deniedPrefixes {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("%w: %s may not be set from a secret (no %s* variables)", ErrInvalidEnv, name, p)
		}
	}
	return nil
}

// checkSecrets checks every name against allowed, the names the operator
// lets a secret set for the command, and every value, and returns the
// values in the order of their sorted names. Errors name the variable,
// never the value.
func checkSecrets(env map[string]sensitive.String, allowed []string) ([]string, error) {
	names := slices.Sorted(maps.Keys(env))
	values := make([]string, 0, len(names))
	var errs []error
	for _, name := range names {
		if err := checkName(name); err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(allowed, name) {
			errs = append(errs, fmt.Errorf("%w: %s is not a variable the operator allows this command (%s)", ErrInvalidEnv, name, allowedList(allowed)))
			continue
		}
		v := env[name].Reveal() // handed to the child process; see doc.go
		switch {
		case strings.IndexByte(v, 0) >= 0:
			errs = append(errs, fmt.Errorf("%w: the value for %s contains a NUL byte, which an environment cannot hold", ErrInvalidEnv, name))
		case len(strings.TrimSpace(v)) < MinValueLen:
			errs = append(errs, fmt.Errorf("%w: the value for %s is shorter than %d bytes (not counting surrounding whitespace), too short to redact from the output safely", ErrInvalidEnv, name, MinValueLen))
		default:
			values = append(values, v)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return values, nil
}

func allowedList(names []string) string {
	if len(names) == 0 {
		return "it takes none; the operator lists them in exec.env"
	}
	return "allowed: " + strings.Join(names, ", ")
}

// buildEnv returns base with the secrets added; a secret replaces a base
// entry of the same name. The result is never nil: exec.Cmd treats a nil
// Env as "inherit the server's environment".
func buildEnv(base []string, env map[string]sensitive.String) []string {
	out := make([]string, 0, len(base)+len(env))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := env[name]; !ok {
			out = append(out, kv)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(env)) {
		out = append(out, name+"="+env[name].Reveal())
	}
	return out
}

func checkBaseEnv(kv string) error {
	name, _, ok := strings.Cut(kv, "=")
	switch {
	case !ok:
		return errors.New("is not NAME=value")
	case name == "":
		return errors.New("has an empty name")
	case strings.IndexByte(kv, 0) >= 0:
		return fmt.Errorf("%s contains a NUL byte", name)
	}
	return nil
}

// defaultEnv is the minimal environment a command starts from: enough to
// find programs and a home directory, nothing that identifies or
// authenticates the server.
func defaultEnv() []string {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}
	if home, err := os.UserHomeDir(); err == nil {
		env = append(env, "HOME="+home)
	}
	return env
}
