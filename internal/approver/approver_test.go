package approver

import (
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

// TestDescribeShowsHiddenCharacters: every approver (page, Duo, notifier,
// dev prompt) shows Describe's fields, so a character that would make a
// field look like something else is written out there, once for all.
func TestDescribeShowsHiddenCharacters(t *testing.T) {
	req := access.Request{ID: "apr_1", Principal: "ci\u2066", Tier: access.Write, Scope: "secret/agent/ci/",
		Paths: []string{"a\u200bb"}, Reason: "read only\u202e etirw dna", Trigger: "write_secret x\u2029y",
		TTL: time.Minute, Expires: time.Unix(0, 0), Digest: "abcdef0123456789"}
	got := map[string]string{}
	for _, f := range Describe(req) {
		if i := strings.IndexFunc(f.Value, access.Misleading); i >= 0 {
			t.Errorf("%s = %q has a hidden character at byte %d", f.Label, f.Value, i)
		}
		got[f.Label] = f.Value
	}
	for label, want := range map[string]string{
		"Agent": `ci\u2066`, "Paths": `a\u200Bb in secret/agent/ci/`,
		"Reason": `read only\u202E etirw dna`, "Asked by": `write_secret x\u2029y`,
	} {
		if got[label] != want {
			t.Errorf("%s = %q, want %q", label, got[label], want)
		}
	}
}
