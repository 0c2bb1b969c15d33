// Package scripts holds the tests of the shell scripts' shared parts.
package scripts

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// runStages runs body after sourcing stages.sh, as scripts/test does, and
// returns its stderr (where the summary goes) and exit status.
func runStages(t *testing.T, body string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "bash", "-c", "set -euo pipefail\nsource ./stages.sh\n"+body)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stderr.String(), 0
	case errors.As(err, &exit):
		return stderr.String(), exit.ExitCode()
	}
	t.Fatalf("running bash: %v", err)
	return "", 0
}

// fakeGoTest prints what a failing go test run prints, and fails.
const fakeGoTest = `fake_go_test() {
  printf 'ok  \texample.com/m/a\t0.1s\n'
  printf -- '--- FAIL: TestSecond (0.00s)\n    --- FAIL: TestSecond/sub (0.00s)\n        x_test.go:9: boom\n'
  printf 'FAIL\nFAIL\texample.com/m/b\t0.2s\n'
  printf -- '--- FAIL: TestThird (0.00s)\nFAIL\texample.com/m/c\t0.1s\nFAIL\n'
  return 1
}
`

func TestSummary(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		want   []string // lines of the summary, as regular expressions
	}{
		{
			name: "ok",
			body: "stages_plan gofmt vet 'go test' fuzz\nstage gofmt true\nstage vet true\nstage_log 'go test' echo fine\nstage_skip fuzz 'a run with arguments'\n",
			want: []string{`^  gofmt +ok \d+s$`, `^  vet +ok \d+s$`, `^  go test +ok \d+s$`, `^  fuzz +skipped \(a run with arguments\)$`, `^all stages passed$`},
		},
		{
			name:   "fail/go-test-names-its-first-failing-test",
			body:   fakeGoTest + "stages_plan gofmt 'go test' fuzz\nstage gofmt true\nstage_log 'go test' fake_go_test\nstage fuzz true\n",
			status: 1,
			want: []string{
				`^  gofmt +ok \d+s$`,
				`^  go test +FAILED after \d+s: first failure TestSecond \(example.com/m/b\)$`,
				`^  fuzz +not run \(after the failure\)$`,
				`^FAILED: go test: TestSecond \(example.com/m/b\) \(the full output is above\)$`,
			},
		},
		{
			name:   "fail/build-failure-names-the-package",
			body:   "stages_plan 'go test'\nstage_log 'go test' bash -c 'printf \"FAIL\\texample.com/m/d [build failed]\\nFAIL\\n\"; exit 2'\n",
			status: 2,
			want: []string{
				`^  go test +FAILED after \d+s: first failure package example.com/m/d$`,
				`^FAILED: go test: package example.com/m/d \(the full output is above\)$`,
			},
		},
		{
			name:   "fail/fuzz-names-its-target",
			body:   "stages_plan fuzz\nstage_log fuzz bash -c 'echo \"fuzz: ok    internal/a   FuzzA   10 execs\"; echo \"fuzz: FAIL  internal/b FuzzB\"; echo \"    --- FAIL: FuzzB (0.1s)\"; exit 1'\n",
			status: 1,
			want:   []string{`^  fuzz +FAILED after \d+s: first failure FuzzB \(internal/b\)$`, `^FAILED: fuzz: FuzzB \(internal/b\) \(the full output is above\)$`},
		},
		{
			name:   "fail/a-stage-without-tests",
			body:   "stages_plan gofmt vet\nstage gofmt false\nstage vet true\n",
			status: 1,
			want:   []string{`^  gofmt +FAILED after \d+s$`, `^  vet +not run \(after the failure\)$`, `^FAILED: gofmt \(the full output is above\)$`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, status := runStages(t, tc.body)
			if status != tc.status {
				t.Errorf("exit status %d, want %d", status, tc.status)
			}
			_, summary, ok := strings.Cut(out, "\nsummary:\n")
			if !ok {
				t.Fatalf("no summary in:\n%s", out)
			}
			lines := strings.Split(strings.TrimSuffix(summary, "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("summary has %d lines, want %d:\n%s", len(lines), len(tc.want), summary)
			}
			for i, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(lines[i]) {
					t.Errorf("line %d = %q, want %s", i+1, lines[i], w)
				}
			}
		})
	}
}
