package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerfileAgrees holds the Dockerfile, which CI cannot build (no
// Docker engine), to the image this tool builds and checks: the same base,
// user, entrypoint and default command, and the version stamped in.
func TestDockerfileAgrees(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	final := text[strings.LastIndex(text, "\nFROM "):]
	for _, want := range []string{
		"\nFROM scratch\n",
		"\nUSER " + imageUser + "\n",
		`ENTRYPOINT ["/` + binPath + `"]`,
		`CMD ["serve"]`,
		"org.opencontainers.image.version=",
		"org.opencontainers.image.revision=",
	} {
		if !strings.Contains(final, want) {
			t.Errorf("the Dockerfile's final stage lacks %q", want)
		}
	}
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-trimpath",
		"internal/cli.Version=${VERSION}",
		"internal/cli.Revision=${REVISION}",
		"/etc/ssl/certs/ca-certificates.crt",
		"gatekeeper:x:65532:65532:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	for _, bad := range []string{"\nRUN ", "SHELL"} {
		if strings.Contains(final, bad) {
			t.Errorf("the final stage has %q: nothing may run in an image without a shell", strings.TrimSpace(bad))
		}
	}
}
