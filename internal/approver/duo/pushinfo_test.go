package duo

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

// decode splits a pushinfo back into fields, as Duo does.
func decode(t *testing.T, s string) []approver.Field {
	t.Helper()
	var out []approver.Field
	for _, kv := range strings.Split(s, "&") {
		k, v, ok := strings.Cut(kv, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("pair %q does not decode", kv)
		}
		out = append(out, approver.Field{Label: key, Value: val})
	}
	return out
}

func TestPushInfo(t *testing.T) {
	fields := []approver.Field{{Label: "Agent", Value: "ci"}, {Label: "Reason", Value: "a b+c&d=e%f é"}, {Label: "Request", Value: "apr_1"}}
	got, err := pushInfo(fields)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Agent=ci&Reason=a%20b%2Bc%26d%3De%25f%20%C3%A9&Request=apr_1"; got != want {
		t.Errorf("pushInfo = %q, want %q", got, want)
	}
	if diff := cmp.Diff(fields, decode(t, got)); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}

func TestPushInfoCutToFit(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*access.Request)
		cut     []string // labels whose values end in "…"
		wantErr bool
	}{
		{"ok/fits", func(*access.Request) {}, nil, false},
		{"ok/long-reason", func(r *access.Request) { r.Reason = strings.Repeat("é", 20000) }, []string{"Reason"}, false},
		{"ok/long-reason-and-paths", func(r *access.Request) {
			r.Reason = strings.Repeat("r", 15000)
			r.Paths = []string{strings.Repeat("p/", 6000)}
		}, []string{"Paths", "Reason"}, false},
		{"fail/id-alone-too-long", func(r *access.Request) { r.ID = strings.Repeat("i", maxPushInfo) }, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := access.Request{ID: "apr_1", Principal: "ci", Tier: access.Write, Scope: "secret/agent/ci/",
				Reason: "deploy", Trigger: "write_secret x", TTL: time.Minute, Expires: time.Unix(0, 0), Digest: "abcdef0123456789abcdef"}
			tt.edit(&req)
			s, err := pushInfo(approver.Describe(req))
			if (err != nil) != tt.wantErr {
				t.Fatalf("pushInfo error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(s) >= maxPushInfo {
				t.Errorf("pushinfo is %d bytes, Duo takes fewer than %d", len(s), maxPushInfo)
			}
			shown := decode(t, s)
			var cut []string
			for i, f := range approver.Describe(req) {
				if shown[i].Label != f.Label {
					t.Fatalf("field %d is %q, want %q", i, shown[i].Label, f.Label)
				}
				if shown[i].Value != f.Value {
					cut = append(cut, f.Label)
					if p := strings.TrimSuffix(shown[i].Value, "…"); !strings.HasPrefix(f.Value, p) || p == shown[i].Value {
						t.Errorf("%s = %q, want a marked prefix of the original", f.Label, shown[i].Value)
					}
				}
			}
			if diff := cmp.Diff(tt.cut, cut); diff != "" {
				t.Errorf("cut fields mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzPushInfo: whatever the agent writes, the push fits Duo's limit,
// decodes to Describe's labels in order, and the request id and digest
// are shown whole.
func FuzzPushInfo(f *testing.F) {
	f.Add("deploy", "db/password", "write_secret db/password", "ci")
	f.Add(strings.Repeat("&=%+ ", 5000), strings.Repeat("é", 3000), "", "a&b=c")
	f.Fuzz(func(t *testing.T, reason, path, trigger, principal string) {
		req := access.Request{ID: "apr_1", Principal: access.Principal(principal), Tier: access.Read, Scope: "s/",
			Paths: []string{path}, Reason: reason, Trigger: trigger, Digest: "0123456789abcdef"}
		fields := approver.Describe(req)
		s, err := pushInfo(fields)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) >= maxPushInfo {
			t.Fatalf("pushinfo is %d bytes", len(s))
		}
		shown := decode(t, s)
		if len(shown) != len(fields) {
			t.Fatalf("%d fields shown, want %d", len(shown), len(fields))
		}
		for i, f := range fields {
			if shown[i].Label != f.Label {
				t.Fatalf("field %d is %q, want %q", i, shown[i].Label, f.Label)
			}
			if (f.Label == "Request" || f.Label == "Digest") && shown[i].Value != f.Value {
				t.Errorf("%s shown as %q, want %q", f.Label, shown[i].Value, f.Value)
			}
		}
	})
}

// TestPushShowsHiddenCharacters: what Duo Mobile shows of a request, its
// headline and its fields, writes out every character that would make it
// look like something else.
func TestPushShowsHiddenCharacters(t *testing.T) {
	req := access.Request{ID: "apr_1", Principal: "ci\u2066", Tier: access.Write, Scope: "secret/agent/ci/",
		Reason: "read only\u202e etirw dna", Trigger: "write_secret x\u200b", Paths: []string{"x\u2028y"},
		TTL: time.Minute, Expires: time.Unix(0, 0), Digest: "abcdef0123456789abcdef"}
	s, err := pushInfo(approver.Describe(req))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{"title": title(req)}
	for _, f := range decode(t, s) {
		got[f.Label] = f.Value
	}
	for label, want := range map[string]string{
		"title":    `Gatekeeper: write access for ci\u2066`,
		"Agent":    `ci\u2066`,
		"Reason":   `read only\u202E etirw dna`,
		"Asked by": `write_secret x\u200B`,
		"Paths":    `x\u2028y in secret/agent/ci/`,
	} {
		if got[label] != want {
			t.Errorf("%s = %q, want %q", label, got[label], want)
		}
	}
}
