package config

import (
	"strings"
	"testing"
	"time"
)

func TestState(t *testing.T) {
	tests := []struct {
		name   string
		env    []string
		file   string
		shared bool
		want   string // an error containing this; "" for none
	}{
		{name: "ok/default-memory", env: httpBase},
		{name: "ok/vault-from-env", env: append(httpBase, "GATEKEEPER_STATE_BACKEND=vault", "GATEKEEPER_STATE_REVALIDATE=0s"), shared: true},
		{name: "ok/vault-from-file", env: httpBase, file: "state:\n  backend: vault\n  revalidate: 5s\n  poll: 200ms\n  heartbeat: 3s\n", shared: true},
		{name: "ok/stdio-too", env: append(base, "GATEKEEPER_STATE_BACKEND=vault"), shared: true},
		{name: "fail/unknown-backend", env: append(httpBase, "GATEKEEPER_STATE_BACKEND=redis"), want: `"redis" is not memory or vault`},
		{name: "fail/revalidate-too-long", env: append(httpBase, "GATEKEEPER_STATE_REVALIDATE=2m"), want: "between 0 and 1m"},
		{name: "fail/revalidate-negative", env: httpBase, file: "state:\n  revalidate: -1s\n", want: "between 0 and 1m"},
		{name: "fail/revalidate-not-a-duration", env: append(httpBase, "GATEKEEPER_STATE_REVALIDATE=soon"), want: "GATEKEEPER_STATE_REVALIDATE"},
		{name: "fail/poll", env: httpBase, file: "state:\n  poll: 1ms\n", want: "state.poll"},
		{name: "fail/heartbeat", env: httpBase, file: "state:\n  heartbeat: 1h\n", want: "state.heartbeat"},
		{name: "fail/unknown-key", env: httpBase, file: "state:\n  redis_url: x\n", want: "redis_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadChecked(t, tc.env, tc.file)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("configuration refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if tc.want == "" && (c.SharedState() != tc.shared || c.Layout().SharedState != tc.shared) {
				t.Errorf("SharedState() = %v, layout %v; want %v", c.SharedState(), c.Layout().SharedState, tc.shared)
			}
		})
	}
}

func TestStateDefaults(t *testing.T) {
	s := Default().State
	if s.Backend != StateMemory || s.Revalidate != 2*time.Second || s.Poll != 500*time.Millisecond || s.Heartbeat != 10*time.Second {
		t.Errorf("state defaults = %+v", s)
	}
}
