package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetricsToken(t *testing.T) {
	const token = "metrics-0123456789abcdef0123456789"
	tokenFile := filepath.Join(t.TempDir(), "metrics")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		env   []string
		file  string
		token string // the token loaded
		want  string // an error containing this; "" for none
	}{
		{name: "ok/open-without-one", env: httpBase},
		{name: "ok/env", env: append(httpBase, "GATEKEEPER_METRICS_TOKEN="+token), token: token},
		{name: "ok/file", env: httpBase, file: "http:\n  metrics_token_file: " + tokenFile + "\n", token: token},
		{name: "fail/short", env: append(httpBase, "GATEKEEPER_METRICS_TOKEN=short"), want: "at least 32 bytes"},
		{name: "fail/missing-file", env: httpBase, file: "http:\n  metrics_token_file: " + tokenFile + ".gone\n", want: "http.metrics_token_file"},
		{name: "fail/plain-text-in-the-file", env: httpBase, file: "http:\n  metrics_token: " + token + "\n", want: "metrics_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadChecked(t, tc.env, tc.file)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("configuration refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), token):
				t.Fatalf("the error shows the token: %v", err)
			}
			if tc.want == "" && c.HTTP.MetricsToken.Reveal() != tc.token {
				t.Errorf("metrics token not read (trimmed) from its source")
			}
		})
	}
}
