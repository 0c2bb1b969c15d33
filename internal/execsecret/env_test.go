package execsecret

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

func TestCheckAllowedName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"ok/plain", "TOKEN", false},
		{"ok/underscore-first", "_TOKEN", false},
		{"ok/digits", "DB_PASSWORD_2", false},
		{"ok/one-char", "X", false},
		{"ok/64-chars", "A" + strings.Repeat("B", 63), false},
		{"ok/near-denied", "PATHS", false},
		{"ok/near-denied-prefix", "LDAP_PASSWORD", false},
		{"ok/contains-denied", "MY_LD_PRELOAD", false},
		{"fail/empty", "", true},
		{"fail/lower-case", "token", true},
		{"fail/mixed-case", "Token", true},
		{"fail/leading-digit", "1TOKEN", true},
		{"fail/65-chars", "A" + strings.Repeat("B", 64), true},
		{"fail/equals", "A=B", true},
		{"fail/dash", "A-B", true},
		{"fail/space", "A B", true},
		{"fail/nul", "A\x00", true},
		{"fail/newline", "A\nB", true},
		{"fail/non-ascii", "TÖKEN", true},
		{"fail/bash-function", "BASH_FUNC_x%%", true},
		{"fail/LD_PRELOAD", "LD_PRELOAD", true},
		{"fail/LD_LIBRARY_PATH", "LD_LIBRARY_PATH", true},
		{"fail/LD_AUDIT", "LD_AUDIT", true},
		{"fail/LD_-any", "LD_ANYTHING", true},
		{"fail/DYLD_INSERT_LIBRARIES", "DYLD_INSERT_LIBRARIES", true},
		{"fail/DYLD_-any", "DYLD_X", true},
		{"fail/PATH", "PATH", true},
		{"fail/HOME", "HOME", true},
		{"fail/BASH_ENV", "BASH_ENV", true},
		{"fail/ENV", "ENV", true},
		{"fail/IFS", "IFS", true},
		{"fail/SHELLOPTS", "SHELLOPTS", true},
		{"fail/PS4", "PS4", true},
		{"fail/PYTHONPATH", "PYTHONPATH", true},
		{"fail/PYTHONSTARTUP", "PYTHONSTARTUP", true},
		{"fail/PYTHON-prefix", "PYTHONWHATEVER", true},
		{"fail/NODE_OPTIONS", "NODE_OPTIONS", true},
		{"fail/PERL5OPT", "PERL5OPT", true},
		{"fail/RUBYOPT", "RUBYOPT", true},
		{"fail/GIT_SSH_COMMAND", "GIT_SSH_COMMAND", true},
		{"fail/GIT_CONFIG_PARAMETERS", "GIT_CONFIG_PARAMETERS", true},
		{"fail/GIT_DIR", "GIT_DIR", true},
		{"fail/GLIBC_TUNABLES", "GLIBC_TUNABLES", true},
		{"fail/JAVA_TOOL_OPTIONS", "JAVA_TOOL_OPTIONS", true},
		{"fail/HTTPS_PROXY", "HTTPS_PROXY", true},
		{"fail/SSL_CERT_FILE", "SSL_CERT_FILE", true},
		{"fail/PSQLRC", "PSQLRC", true},
		{"fail/LUA_INIT", "LUA_INIT", true},
		{"fail/LUA_INIT_5_4", "LUA_INIT_5_4", true},
		{"fail/OPENSSL_CONF", "OPENSSL_CONF", true},
		{"fail/KUBECONFIG", "KUBECONFIG", true},
		{"fail/XDG_CONFIG_HOME", "XDG_CONFIG_HOME", true},
		{"fail/SSLKEYLOGFILE", "SSLKEYLOGFILE", true},
		{"fail/ZDOTDIR", "ZDOTDIR", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAllowedName(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CheckAllowedName(%q) = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidEnv) {
				t.Errorf("error %v is not ErrInvalidEnv", err)
			}
		})
	}
}

func TestDeniedListsAreRefused(t *testing.T) {
	for _, n := range DeniedNames() {
		if err := CheckAllowedName(n); err == nil {
			t.Errorf("denied name %s accepted", n)
		}
	}
	for _, p := range DeniedPrefixes() {
		if err := CheckAllowedName(p + "X"); err == nil {
			t.Errorf("name with denied prefix %s accepted", p)
		}
	}
}

func TestCheckSecrets(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr int // number of refused variables
	}{
		{"ok/none", nil, 0},
		{"ok/four-bytes", map[string]string{"TOKEN": "abcd"}, 0},
		{"ok/several", map[string]string{"A": "value-a", "B": "value-b"}, 0},
		{"ok/padded", map[string]string{"TOKEN": "  abcd\n"}, 0},
		{"fail/empty", map[string]string{"TOKEN": ""}, 1},
		{"fail/three-bytes", map[string]string{"TOKEN": "pw1"}, 1},
		{"fail/short-after-trim", map[string]string{"TOKEN": "  pw1 \n\t"}, 1},
		{"fail/nul", map[string]string{"TOKEN": "abc\x00def"}, 1},
		{"fail/not-allowed", map[string]string{"OTHER": "good-value"}, 1},
		{"fail/every-problem", map[string]string{
			"ok": "lower-case-name", "LD_PRELOAD": "/tmp/evil.so", "PIN": "123", "GOOD": "good-value",
		}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := make(map[string]sensitive.String, len(tc.env))
			for k, v := range tc.env {
				env[k] = sensitive.New(v)
			}
			values, err := checkSecrets(env, []string{"A", "B", "GOOD", "PIN", "TOKEN"})
			if tc.wantErr == 0 {
				if err != nil || len(values) != len(tc.env) {
					t.Fatalf("checkSecrets() = %d values, %v", len(values), err)
				}
				return
			}
			if err == nil {
				t.Fatal("checkSecrets() succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidEnv) {
				t.Errorf("error %v is not ErrInvalidEnv", err)
			}
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) || len(joined.Unwrap()) != tc.wantErr {
				t.Errorf("error %q: want %d joined errors", err, tc.wantErr)
			}
			for _, v := range tc.env {
				if s := strings.TrimSpace(strings.ReplaceAll(v, "\x00", "")); s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains a value", err)
				}
			}
		})
	}
}

func TestBuildEnv(t *testing.T) {
	env := map[string]sensitive.String{"TOKEN": sensitive.New("tok-value"), "A_KEY": sensitive.New("a-value")}
	got := buildEnv([]string{"LANG=C", "TOKEN=old", "X=1"}, env)
	want := []string{"LANG=C", "X=1", "A_KEY=a-value", "TOKEN=tok-value"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("buildEnv() = %q, want %q", got, want)
	}
	// A nil Env would make exec.Cmd inherit the server's environment.
	if got := buildEnv(nil, nil); got == nil {
		t.Error("buildEnv(nil, nil) = nil, want an empty, non-nil slice")
	}
}
