//go:build unix

package execsecret

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// The binaries the tests run; all exist on Debian. A missing one fails New
// and so the test, loudly.
const (
	shBin     = "/bin/sh"
	envBin    = "/usr/bin/env"
	base64Bin = "/usr/bin/base64"
	sleepBin  = "/bin/sleep"
)

const testSecret = "s3cr3t-Zq9#Xw2!Lp"

func newRunner(t *testing.T, o Options) *Runner {
	t.Helper()
	if o.Allowed == nil {
		o.Allowed = []string{shBin, envBin, base64Bin, sleepBin}
	}
	if o.Env == nil {
		o.Env = map[string][]string{}
		for _, cmd := range o.Allowed {
			o.Env[cmd] = []string{"TOKEN"}
		}
	}
	r, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// secrets maps variable names to values without a name of their own: their
// marker is the plain [REDACTED].
func secrets(kv ...string) map[string]secretuse.Secret {
	m := make(map[string]secretuse.Secret)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = secretuse.Secret{Value: sensitive.New(kv[i+1])}
	}
	return m
}

// run calls r.Run and checks that no error carries a value.
func run(t *testing.T, r *Runner, ctx context.Context, command string, args []string, env map[string]secretuse.Secret) (Result, error) { //nolint:revive // context-as-argument: t and the runner under test first, in every call here
	t.Helper()
	res, err := r.Run(ctx, command, args, env)
	if err != nil {
		for name, v := range env {
			if s := strings.TrimSpace(v.Value.Reveal()); len(s) >= 2 && strings.Contains(err.Error(), s) {
				t.Errorf("error %q contains the value of %s", err, name)
			}
		}
	}
	return res, err
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    Options
		wantErr int
	}{
		{"ok/minimal", Options{Allowed: []string{shBin}}, 0},
		{"ok/unclean-config-is-cleaned", Options{Allowed: []string{"/bin/../bin/sh"}}, 0},
		{"ok/everything", Options{Allowed: []string{shBin, envBin}, Timeout: time.Second, MaxOutput: 10, Dir: dir, BaseEnv: []string{"A=1", "B="}}, 0},
		{"ok/empty-base-env", Options{Allowed: []string{shBin}, BaseEnv: []string{}}, 0},
		{"fail/nothing-allowed", Options{}, 1},
		{"fail/relative", Options{Allowed: []string{"sh"}}, 1},
		{"fail/missing", Options{Allowed: []string{"/nonexistent/tool"}}, 1},
		{"fail/directory", Options{Allowed: []string{"/usr/bin"}}, 1},
		{"fail/not-executable", Options{Allowed: []string{plain}}, 1},
		{"fail/negative-timeout", Options{Allowed: []string{shBin}, Timeout: -time.Second}, 1},
		{"fail/negative-max-output", Options{Allowed: []string{shBin}, MaxOutput: -1}, 1},
		{"fail/huge-max-output", Options{Allowed: []string{shBin}, MaxOutput: MaxMaxOutput + 1}, 1},
		{"fail/relative-dir", Options{Allowed: []string{shBin}, Dir: "tmp"}, 1},
		{"fail/dir-is-file", Options{Allowed: []string{shBin}, Dir: plain}, 1},
		{"fail/base-env-no-equals", Options{Allowed: []string{shBin}, BaseEnv: []string{"hvs.not-a-pair"}}, 1},
		{"fail/base-env-empty-name", Options{Allowed: []string{shBin}, BaseEnv: []string{"=x"}}, 1},
		{"ok/env", Options{Allowed: []string{"/bin/../bin/sh"}, Env: map[string][]string{"/bin/sh": {"PGPASSWORD", "TOKEN"}}}, 0},
		{"fail/env-not-allowed-command", Options{Allowed: []string{shBin}, Env: map[string][]string{envBin: {"TOKEN"}}}, 1},
		{"fail/env-denied-name", Options{Allowed: []string{shBin}, Env: map[string][]string{shBin: {"TOKEN", "PSQLRC", "XDG_CONFIG_HOME"}}}, 2},
		{"fail/env-bad-name", Options{Allowed: []string{shBin}, Env: map[string][]string{shBin: {"token"}}}, 1},
		{"fail/every-problem", Options{Allowed: []string{"sh", "/nonexistent"}, Timeout: -1, MaxOutput: -1, Dir: "x", BaseEnv: []string{"x"}}, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.opts)
			if tc.wantErr == 0 {
				if err != nil {
					t.Fatalf("New() error = %v", err)
				}
				return
			}
			if err == nil || r != nil {
				t.Fatalf("New() = %v, %v; want an error", r, err)
			}
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) || len(joined.Unwrap()) != tc.wantErr {
				t.Errorf("error %q: want %d joined errors", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "hvs.not-a-pair") {
				t.Errorf("error %q shows a base env entry", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	r := newRunner(t, Options{})
	if r.timeout != DefaultTimeout || r.maxOutput != DefaultMaxOutput {
		t.Errorf("timeout %s, max output %d; want the defaults", r.timeout, r.maxOutput)
	}
	if got, want := strings.Join(r.Allowed(), " "), "/bin/sh /bin/sleep /usr/bin/base64 /usr/bin/env"; got != want {
		t.Errorf("Allowed() = %q, want %q", got, want)
	}
}

func TestRunAllowlist(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "sh")
	if err := os.Symlink(shBin, link); err != nil {
		t.Fatal(err)
	}
	resolvedSh, err := filepath.EvalSymlinks(shBin)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, Options{})
	tests := []struct {
		name    string
		command string
		wantErr bool
	}{
		{"ok/sh", shBin, false},
		{"ok/env", envBin, false},
		{"fail/empty", "", true},
		{"fail/not-allowed", "/bin/ls", true},
		{"fail/relative-name", "sh", true},
		{"fail/relative-path", "bin/sh", true},
		{"fail/dot-relative", "./sh", true},
		{"fail/dotdot-to-allowed", "/bin/../bin/sh", true},
		{"fail/dotdot-escape", "/usr/bin/../../bin/sh", true},
		{"fail/double-slash", "/bin//sh", true},
		{"fail/trailing-slash", "/bin/sh/", true},
		{"fail/symlink-to-allowed", link, true},
		{"fail/resolved-target-of-allowed", resolvedSh, resolvedSh != shBin},
		{"fail/nul", "/bin/sh\x00", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := run(t, r, t.Context(), tc.command, []string{"-c", "exit 0"}, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Run(%q) = %+v, %v; wantErr %v", tc.command, res, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNotAllowed) {
				t.Errorf("error %v is not ErrNotAllowed", err)
			}
		})
	}
}

// An allowed path that is a symlink works, and stops working when it is
// pointed somewhere else after the Runner was built.
func TestRunAllowedSymlinkRepointed(t *testing.T) {
	link := filepath.Join(t.TempDir(), "tool")
	if err := os.Symlink(envBin, link); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, Options{Allowed: []string{link}, BaseEnv: []string{"A=1"}})
	res, err := run(t, r, t.Context(), link, nil, nil)
	if err != nil || res.Stdout != "A=1\n" {
		t.Fatalf("Run() = %+v, %v; want the env output", res, err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shBin, link); err != nil {
		t.Fatal(err)
	}
	if res, err := run(t, r, t.Context(), link, []string{"-c", "echo pwned"}, nil); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("Run() after re-pointing = %+v, %v; want ErrNotAllowed", res, err)
	}
}

func TestRunRefusesEnv(t *testing.T) {
	r := newRunner(t, Options{})
	marker := filepath.Join(t.TempDir(), "ran")
	for _, env := range []map[string]secretuse.Secret{
		secrets("LD_PRELOAD", "/tmp/evil.so"),
		secrets("BASH_ENV", "/tmp/evil.sh"),
		secrets("PATH", "/tmp/evil"),
		secrets("token", testSecret),
		secrets("TOKEN", "pw1"),
		secrets("TOKEN", "  pw1\n"),
		secrets("TOKEN", testSecret, "GIT_SSH_COMMAND", "touch /tmp/x"),
		secrets("OTHER_TOKEN", testSecret),
	} {
		_, err := run(t, r, t.Context(), shBin, []string{"-c", "touch " + marker}, env)
		if !errors.Is(err, ErrInvalidEnv) {
			t.Errorf("Run with %v: error %v, want ErrInvalidEnv", keys(env), err)
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("the command ran although its environment was refused (%v)", err)
	}
	if _, err := run(t, r, t.Context(), shBin, []string{"-c", "exit 0", "a\x00b"}, nil); err == nil {
		t.Error("an argument with a NUL byte was accepted")
	}
}

// TestRunRefusesConfigLoadingEnv: variables that make a program load code
// or configuration from where their value points are refused, both when an
// agent names them (they are not on the command's allowlist) and when an
// operator tries to allow them.
func TestRunRefusesConfigLoadingEnv(t *testing.T) {
	names := []string{
		"PSQLRC", "LUA_INIT", "LUA_INIT_5_4", "OPENSSL_CONF", "KUBECONFIG", "XDG_CONFIG_HOME",
		"SSLKEYLOGFILE", "ZDOTDIR", "PGSERVICEFILE", "CURL_HOME", "WGETRC", "GNUPGHOME",
		"DOCKER_CONFIG", "NPM_CONFIG_USERCONFIG", "INPUTRC",
	}
	r := newRunner(t, Options{Allowed: []string{shBin}, Env: map[string][]string{shBin: {"PGPASSWORD"}}})
	marker := filepath.Join(t.TempDir(), "ran")
	for _, name := range names {
		_, err := run(t, r, t.Context(), shBin, []string{"-c", "touch " + marker}, secrets(name, testSecret))
		if !errors.Is(err, ErrInvalidEnv) {
			t.Errorf("Run with %s: error %v, want ErrInvalidEnv", name, err)
		}
		if _, err := New(Options{Allowed: []string{shBin}, Env: map[string][]string{shBin: {name}}}); !errors.Is(err, ErrInvalidEnv) {
			t.Errorf("New allowing %s: error %v, want ErrInvalidEnv", name, err)
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("the command ran although its environment was refused (%v)", err)
	}
	// With no entry in Env a command takes no secret at all.
	r = newRunner(t, Options{Allowed: []string{shBin}, Env: map[string][]string{}})
	if _, err := run(t, r, t.Context(), shBin, []string{"-c", "exit 0"}, secrets("TOKEN", testSecret)); !errors.Is(err, ErrInvalidEnv) {
		t.Errorf("Run without an allowlist: error %v, want ErrInvalidEnv", err)
	}
}

func keys(m map[string]secretuse.Secret) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRunRedacts(t *testing.T) {
	long := strings.Repeat("0123456789-long-secret-", 6) // base64 wraps at 76
	padded := "  padded-" + testSecret + "\n"
	tests := []struct {
		name       string
		value      string
		script     string
		wantStdout string
		wantStderr string
		wantN      int
	}{
		{"ok/value", testSecret, `printf %s "$TOKEN"`, R, "", 1},
		{"ok/stderr", testSecret, `printf %s "$TOKEN" >&2`, "", R, 1},
		{"ok/both-and-twice", testSecret, `echo "a $TOKEN b $TOKEN"; echo "$TOKEN" >&2`, "a " + R + " b " + R + "\n", R + "\n", 3},
		{"ok/base64", testSecret, `printf %s "$TOKEN" | base64`, R + "\n", "", 1},
		{"ok/base64-wrapped", long, `printf %s "$TOKEN" | base64`, R + "\n", "", 1},
		{"ok/hex", testSecret, `printf %s "$TOKEN" | od -An -v -tx1 | tr -d ' \n'`, R, "", 1},
		{"ok/hex-upper", testSecret, `printf %s "$TOKEN" | od -An -v -tx1 | tr -d ' \n' | tr a-f A-F`, R, "", 1},
		{"ok/trimmed", padded, `echo $TOKEN`, R + "\n", "", 1},
		{"ok/trimmed-base64", padded, `printf %s $TOKEN | base64`, R + "\n", "", 1},
		{"ok/untrimmed", padded, `printf %s "$TOKEN"`, R, "", 1},
		{"ok/nothing-to-redact", testSecret, `echo hello`, "hello\n", "", 0},
	}
	r := newRunner(t, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := run(t, r, t.Context(), shBin, []string{"-c", tc.script}, secrets("TOKEN", tc.value))
			if err != nil {
				t.Fatal(err)
			}
			if res.Stdout != tc.wantStdout || res.Stderr != tc.wantStderr || res.Redacted != tc.wantN || res.ExitCode != 0 {
				t.Errorf("Run() = %+v; want stdout %q, stderr %q, %d redacted", res, tc.wantStdout, tc.wantStderr, tc.wantN)
			}
		})
	}
}

func TestRunRedactsBase64Binary(t *testing.T) {
	// base64 run directly reads its file argument; the value reaches it
	// through the environment only via the shell, so write it to a file
	// the way a careless tool would, then encode that.
	r := newRunner(t, Options{})
	f := filepath.Join(t.TempDir(), "leak")
	res, err := run(t, r, t.Context(), shBin, []string{"-c", `printf %s "$TOKEN" > "$1"`, "sh", f}, secrets("TOKEN", testSecret))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run() = %+v, %v", res, err)
	}
	res, err = run(t, r, t.Context(), base64Bin, []string{f}, secrets("TOKEN", testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.StdEncoding.EncodeToString([]byte(testSecret)); strings.Contains(res.Stdout, want) || res.Stdout != R+"\n" {
		t.Errorf("stdout %q, want %q", res.Stdout, R+"\n")
	}
}

// The value is redacted wherever the pipe's reads happen to split it.
func TestRunRedactsAcrossReads(t *testing.T) {
	r := newRunner(t, Options{MaxOutput: 1 << 20})
	for _, pad := range []int{4090, 4095, 4096, 32760, 32765, 32768, 65530, 65535, 65536, 131070} {
		script := fmt.Sprintf(`head -c %d /dev/zero | tr '\000' a; printf %%s "$TOKEN"; printf %%s "$TOKEN" | base64`, pad)
		res, err := run(t, r, t.Context(), shBin, []string{"-c", script}, secrets("TOKEN", testSecret))
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Repeat("a", pad) + R + R + "\n"; res.Stdout != want {
			t.Errorf("pad %d: stdout ends %q, want ...%q", pad, res.Stdout[max(0, len(res.Stdout)-40):], want[len(want)-40:])
		}
	}
}

func TestRunIsolatedEnvironment(t *testing.T) {
	t.Setenv("GATEKEEPER_TEST_CANARY", "canary-e7f1")
	t.Setenv("VAULT_TOKEN", "hvs.server-own-token")

	t.Run("ok/default", func(t *testing.T) {
		r := newRunner(t, Options{})
		res, err := run(t, r, t.Context(), envBin, nil, secrets("TOKEN", testSecret))
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"canary-e7f1", "GATEKEEPER_TEST_CANARY", "VAULT_TOKEN", "hvs.server-own-token", testSecret} {
			if strings.Contains(res.Stdout, bad) {
				t.Errorf("child environment contains %q:\n%s", bad, res.Stdout)
			}
		}
		var names []string
		for line := range strings.Lines(res.Stdout) {
			name, _, _ := strings.Cut(line, "=")
			names = append(names, name)
		}
		if got, want := strings.Join(names, " "), "PATH LANG HOME TOKEN"; got != want {
			t.Errorf("child environment has %q, want %q", got, want)
		}
		if !strings.Contains(res.Stdout, "TOKEN="+R+"\n") {
			t.Errorf("child environment lacks the redacted TOKEN:\n%s", res.Stdout)
		}
	})
	t.Run("ok/base-env", func(t *testing.T) {
		r := newRunner(t, Options{BaseEnv: []string{"FOO=bar"}})
		res, err := run(t, r, t.Context(), envBin, nil, secrets("TOKEN", testSecret))
		if want := "FOO=bar\nTOKEN=" + R + "\n"; err != nil || res.Stdout != want {
			t.Errorf("Run() = %q, %v; want %q", res.Stdout, err, want)
		}
	})
	t.Run("ok/empty-base-env", func(t *testing.T) {
		r := newRunner(t, Options{BaseEnv: []string{}})
		res, err := run(t, r, t.Context(), envBin, nil, nil)
		if err != nil || res.Stdout != "" {
			t.Errorf("Run() = %q, %v; want an empty environment", res.Stdout, err)
		}
	})
}

func TestRunOutputCap(t *testing.T) {
	r := newRunner(t, Options{MaxOutput: 1000})
	res, err := run(t, r, t.Context(), shBin, []string{"-c", `head -c 300000 /dev/zero | tr '\000' x; head -c 300000 /dev/zero | tr '\000' y >&2; exit 4`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != strings.Repeat("x", 1000) || res.Stderr != strings.Repeat("y", 1000) || !res.Truncated || res.ExitCode != 4 {
		t.Errorf("Run() = %d/%d bytes, truncated %v, exit %d; want 1000/1000, true, 4", len(res.Stdout), len(res.Stderr), res.Truncated, res.ExitCode)
	}

	res, err = run(t, r, t.Context(), shBin, []string{"-c", `echo short`}, nil)
	if err != nil || res.Truncated || res.Stdout != "short\n" {
		t.Errorf("Run() = %+v, %v; want untruncated output", res, err)
	}
}

// Secrets at and past the cut never show, whole or in part.
func TestRunOutputCapNeverHalfShowsASecret(t *testing.T) {
	const maxOut = 100
	long := strings.Repeat("Zq9#Xw2!Lp", 20) // 200 bytes, longer than MaxOutput
	r := newRunner(t, Options{MaxOutput: maxOut})
	for _, value := range []string{testSecret, long} {
		for pad := maxOut - 20; pad <= maxOut+4*len(value)+10; pad += 7 {
			script := fmt.Sprintf(`head -c %d /dev/zero | tr '\000' a; while :; do printf %%s "$TOKEN"; done | head -c 100000`, pad)
			res, err := run(t, r, t.Context(), shBin, []string{"-c", script}, secrets("TOKEN", value))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Truncated || len(res.Stdout) > maxOut {
				t.Fatalf("pad %d: %d bytes, truncated %v", pad, len(res.Stdout), res.Truncated)
			}
			plain := strings.ReplaceAll(res.Stdout, R, "")
			for i := len(R) - 1; i > 0; i-- { // a marker cut at the end
				if strings.HasSuffix(plain, R[:i]) {
					plain = strings.TrimSuffix(plain, R[:i])
					break
				}
			}
			if strings.Trim(plain, "a") != "" {
				t.Fatalf("pad %d: stdout %q shows part of the value", pad, res.Stdout)
			}
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	r := newRunner(t, Options{})
	tests := []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 1", 1},
		{"exit 3", 3},
		{"exit 255", 255},
		{"/nonexistent/cmd", 127},
		{"kill -9 $$", -1},
	}
	for _, tc := range tests {
		res, err := run(t, r, t.Context(), shBin, []string{"-c", tc.script}, nil)
		if err != nil || res.ExitCode != tc.want {
			t.Errorf("sh -c %q: exit %d, %v; want %d, nil", tc.script, res.ExitCode, err, tc.want)
		}
	}
}

func TestRunDirAndStdin(t *testing.T) {
	dir := t.TempDir()
	r := newRunner(t, Options{Dir: dir})
	// cat reads stdin to its end: it must be /dev/null, not the server's
	// stdin (over stdio, the MCP stream).
	res, err := run(t, r, t.Context(), shBin, []string{"-c", "pwd; cat; echo done"}, nil)
	if want := dir + "\ndone\n"; err != nil || res.Stdout != want {
		t.Errorf("Run() = %q, %v; want %q", res.Stdout, err, want)
	}
}

// Arguments reach the program as they are: no shell parses them.
func TestRunNoShell(t *testing.T) {
	r := newRunner(t, Options{BaseEnv: []string{}})
	res, err := run(t, r, t.Context(), envBin, []string{"X=$(id);`id`|id", envBin}, nil)
	if want := "X=$(id);`id`|id\n"; err != nil || res.Stdout != want {
		t.Errorf("Run() = %q, %v; want %q", res.Stdout, err, want)
	}
}

// A secret's marker names it, so the agent can tell which value was there.
func TestRunMarkerNamesTheSecret(t *testing.T) {
	r := newRunner(t, Options{})
	env := map[string]secretuse.Secret{"TOKEN": {Name: "api/github#token", Value: sensitive.New(testSecret)}}
	res, err := run(t, r, t.Context(), shBin, []string{"-c", `printf 'v=%s' "$TOKEN"`}, env)
	if want := "v=[REDACTED:api/github#token]"; err != nil || res.Stdout != want || res.Redacted != 1 {
		t.Errorf("Run() = %+v, %v; want stdout %q", res, err, want)
	}
}
