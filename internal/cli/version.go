package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is set at build time with
//
//	-ldflags "-X github.com/gatekeeper-mcp/gatekeeper/internal/cli.Version=v1.2.3"
//
// (the Dockerfile and scripts/build do). Left at "dev", `gatekeeper version`
// falls back to the module version Go recorded, which `go install
// ...@v1.2.3` sets.
var Version = "dev"

// Revision may be set the same way (cli.Revision=COMMIT) where the build
// cannot see the repository, as in a container build without .git; Go's own
// vcs.revision wins when present.
var Revision = ""

// buildInfo is what `gatekeeper version` reports: enough to tell exactly
// which source and toolchain a binary came from when someone reports a bug.
type buildInfo struct {
	Version   string `json:"version"`
	Module    string `json:"module,omitempty"`     // the main module's version as Go recorded it
	Revision  string `json:"revision,omitempty"`   // vcs.revision
	Time      string `json:"time,omitempty"`       // vcs.time (commit time)
	Modified  bool   `json:"modified,omitempty"`   // vcs.modified: built from a dirty tree
	GoVersion string `json:"go_version,omitempty"` // toolchain that built the binary
	Platform  string `json:"platform"`
}

// readBuildInfo combines Version with what the Go toolchain stamped into the
// binary. Builds with -buildvcs=false (or outside a repository) have no
// vcs.* settings; those fields stay empty rather than guessed.
func readBuildInfo(version string, bi *debug.BuildInfo, ok bool) buildInfo {
	info := buildInfo{Version: version, Revision: Revision, Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || bi == nil {
		return info
	}
	info.GoVersion = bi.GoVersion
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		info.Module = v
		if info.Version == "dev" {
			info.Version = v
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "GOOS", "GOARCH":
			// runtime's values are the same and always present
		}
	}
	return info
}

// text is the human form: the first line is "gatekeeper VERSION" as it
// always was, so scripts that read one line keep working.
func (b buildInfo) text() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "gatekeeper %s\n", b.Version)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&sb, "  %-9s %s\n", k, v)
		}
	}
	row("module", b.Module)
	rev := b.Revision
	if rev != "" && b.Modified {
		rev += " (modified)"
	}
	row("revision", rev)
	row("time", b.Time)
	row("go", b.GoVersion)
	row("platform", b.Platform)
	return sb.String()
}

func versionCmd(args []string, sys IO) error {
	fs := flags("version", "Print the version and how this binary was built.", sys)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parse(fs, args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	info := readBuildInfo(Version, bi, ok)
	if *asJSON {
		enc := json.NewEncoder(sys.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprint(sys.Stdout, info.text())
	return err
}
