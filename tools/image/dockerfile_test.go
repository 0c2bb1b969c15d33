package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// TestDockerfileAgrees parses the Dockerfile with BuildKit's own parser (CI
// has no Docker engine to build it) and holds it to the image this tool
// builds and checks: an empty base, the same numeric user, entrypoint and
// default command, nothing run in the final stage, and the version stamped
// into the binary.
func TestDockerfileAgrees(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parsing the Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile warning: %s", w.Short)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("reading the Dockerfile's instructions: %v", err)
	}
	final := stages[len(stages)-1]
	if final.BaseName != "scratch" {
		t.Errorf("final stage is FROM %s, want scratch", final.BaseName)
	}
	var user string
	var entrypoint, cmd []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Errorf("ENTRYPOINT in shell form needs a shell the image does not have")
			}
			entrypoint = c.CmdLine
		case *instructions.CmdCommand:
			if c.PrependShell {
				t.Errorf("CMD in shell form needs a shell the image does not have")
			}
			cmd = c.CmdLine
		case *instructions.RunCommand, *instructions.ShellCommand:
			t.Errorf("the final stage has %s: nothing can run in an image without a shell", c.Name())
		}
	}
	if user != imageUser {
		t.Errorf("USER %q, want %q", user, imageUser)
	}
	if !slices.Equal(entrypoint, []string{"/" + binPath}) || !slices.Equal(cmd, []string{"serve"}) {
		t.Errorf("ENTRYPOINT %q CMD %q, want [/%s] [serve]", entrypoint, cmd, binPath)
	}
	text := string(b)
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-trimpath",
		"internal/cli.Version=${VERSION}",
		"internal/cli.Revision=${REVISION}",
		"/etc/ssl/certs/ca-certificates.crt",
		"gatekeeper:x:65532:65532:",
		"org.opencontainers.image.version=",
		"org.opencontainers.image.revision=",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
}

// TestDockerBuildHasLocalReplaces: a module that go.mod replaces with a
// directory of this repository (the patched MCP SDK) must reach the build
// stage, past .dockerignore, before `go mod download` reads go.mod.
func TestDockerBuildHasLocalReplaces(t *testing.T) {
	root := filepath.Join("..", "..")
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, line := range strings.Split(string(gomod), "\n") {
		if _, target, ok := strings.Cut(line, "=> ./"); ok && strings.HasPrefix(strings.TrimSpace(line), "replace ") {
			dirs = append(dirs, strings.TrimSpace(target))
		}
	}
	if len(dirs) == 0 {
		t.Skip("go.mod replaces no module with a local directory")
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	download := strings.Index(string(df), "go mod download")
	for _, dir := range dirs {
		copyAt := strings.Index(string(df), "COPY "+dir+" ./"+dir)
		if copyAt < 0 || copyAt > download {
			t.Errorf("the Dockerfile does not COPY %s ./%s before go mod download", dir, dir)
		}
		if !slices.Contains(strings.Split(string(ignore), "\n"), "!"+dir+"/") {
			t.Errorf(".dockerignore does not let %s/ through", dir)
		}
	}
}
