package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadBuildInfo(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/gatekeeper-mcp/gatekeeper", Version: "v0.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "216a4079c0ffee"},
			{Key: "vcs.time", Value: "2026-11-30T07:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name    string
		version string
		bi      *debug.BuildInfo
		ok      bool
		want    buildInfo
	}{
		{"ok/ldflags-and-vcs", "v0.5.0", stamped, true, buildInfo{
			Version: "v0.5.0", Module: "v0.4.0", Revision: "216a4079c0ffee", Time: "2026-11-30T07:00:00Z",
			Modified: true, GoVersion: "go1.26.8", Platform: platform,
		}},
		{"ok/go-install-version", "dev", stamped, true, buildInfo{
			Version: "v0.4.0", Module: "v0.4.0", Revision: "216a4079c0ffee", Time: "2026-11-30T07:00:00Z",
			Modified: true, GoVersion: "go1.26.8", Platform: platform,
		}},
		{"ok/devel-no-vcs", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true,
			buildInfo{Version: "dev", GoVersion: "go1.26.8", Platform: platform}},
		{"ok/no-build-info", "dev", nil, false, buildInfo{Version: "dev", Platform: platform}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, readBuildInfo(tc.version, tc.bi, tc.ok)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRevisionFromLdflags(t *testing.T) {
	defer func(r string) { Revision = r }(Revision)
	Revision = "feedbeef"
	noVCS := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	if got := readBuildInfo("v1", noVCS, true).Revision; got != "feedbeef" {
		t.Errorf("without vcs.revision: Revision = %q, want the -ldflags value", got)
	}
	withVCS := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "c0ffee"}}}
	if got := readBuildInfo("v1", withVCS, true).Revision; got != "c0ffee" {
		t.Errorf("with vcs.revision: Revision = %q, want Go's own", got)
	}
}

func TestBuildInfoText(t *testing.T) {
	got := buildInfo{Version: "v0.5.0", Revision: "abc", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"}.text()
	want := "gatekeeper v0.5.0\n  revision  abc (modified)\n  go        go1.26.8\n  platform  linux/amd64\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestVersionCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
	}{
		{"ok/text", []string{"version"}, nil},
		{"ok/json", []string{"version", "--json"}, nil},
		{"ok/flag-form", []string{"--version"}, nil},
		{"fail/extra-argument", []string{"version", "now"}, ErrUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Run(t.Context(), tc.args, IO{Stdout: &out, Stderr: &errOut})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Run(%v) = %v, want %v (stderr %q)", tc.args, err, tc.wantErr, errOut.String())
			}
			if err != nil {
				return
			}
			if strings.HasSuffix(tc.name, "json") {
				var info buildInfo
				if err := json.Unmarshal(out.Bytes(), &info); err != nil {
					t.Fatalf("version --json printed %q: %v", out.String(), err)
				}
				if info.Version == "" || info.GoVersion != runtime.Version() {
					t.Errorf("version --json = %+v, want a version and go %s", info, runtime.Version())
				}
				return
			}
			if first, _, _ := strings.Cut(out.String(), "\n"); first != "gatekeeper "+Version {
				t.Errorf("first line = %q, want %q", first, "gatekeeper "+Version)
			}
		})
	}
}
