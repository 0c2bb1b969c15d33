package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  image build --binary FILE --version V [--revision R] --out FILE.tar [--oci-layout DIR]
  image check --tarball FILE.tar`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "build":
		return buildCmd(args[1:], stdout, stderr)
	case "check":
		return checkCmd(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func buildCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("binary", "", "static gatekeeper binary (scripts/build)")
	ca := fs.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM CA certificates to ship")
	version := fs.String("version", "", "image version label and tag")
	revision := fs.String("revision", "", "VCS revision label")
	source := fs.String("source", "https://github.com/gatekeeper-mcp/gatekeeper", "source label")
	created := fs.String("created", "", "RFC 3339 creation time (default: $SOURCE_DATE_EPOCH, else the Unix epoch, for reproducible digests)")
	out := fs.String("out", "", "write a docker-save style tarball here")
	ociLayout := fs.String("oci-layout", "", "also write an OCI image layout into this directory")
	repo := fs.String("repository", "gatekeeper", "repository name in the tarball's tag")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" || *out == "" {
		return errors.New("build needs --binary and --out")
	}
	binary, err := readFile("binary", *bin)
	if err != nil {
		return err
	}
	bundle, err := readFile("CA bundle", *ca)
	if err != nil {
		return err
	}
	at, err := creationTime(*created, os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	arch, err := elfArch(binary)
	if err != nil {
		return fmt.Errorf("the binary: %w", err)
	}
	img, err := Build(BuildOptions{Binary: binary, CABundle: bundle, Arch: arch, Version: *version, Revision: *revision, Source: *source, Created: at})
	if err != nil {
		return err
	}
	tag, err := name.NewTag(*repo + ":" + tagFor(*version))
	if err != nil {
		return fmt.Errorf("naming the image: %w", err)
	}
	if err := tarball.WriteToFile(*out, tag, img); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	if *ociLayout != "" {
		p, err := layout.Write(*ociLayout, empty.Index)
		if err != nil {
			return fmt.Errorf("writing the OCI layout: %w", err)
		}
		if err := p.AppendImage(img); err != nil {
			return fmt.Errorf("writing the OCI layout: %w", err)
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("digesting the image: %w", err)
	}
	fmt.Fprintf(stdout, "image: wrote %s (%s, linux/%s, %s)\n", *out, tag, arch, digest)
	return nil
}

// tagFor turns a version into a valid tag: git describe output such as
// v1.2.3-4-gabc+dirty has characters a tag may not hold.
func tagFor(version string) string {
	t := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, version)
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

func creationTime(flagValue, epoch string) (time.Time, error) {
	switch {
	case flagValue != "":
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("--created: %w", err)
		}
		return t.UTC(), nil
	case epoch != "":
		s, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", epoch)
		}
		return time.Unix(s, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

func checkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("tarball", "", "image tarball to check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("check needs --tarball")
	}
	img, err := tarball.ImageFromPath(*path, nil)
	if err != nil {
		return fmt.Errorf("reading %s: %w", *path, err)
	}
	r, err := Inspect(img)
	if err != nil {
		return err
	}
	if err := r.Check(); err != nil {
		return fmt.Errorf("%s:\n%w", *path, err)
	}
	fmt.Fprintf(stdout, "image: %s: user %s, entrypoint %q, cmd %q, linux/%s, only executable %s, version %s, revision %s\n",
		*path, r.User, r.Entrypoint, r.Cmd, r.Arch, r.Executables[0], r.Labels[labelVersion], r.Labels[labelRevision])
	if runtime.GOOS != "linux" || runtime.GOARCH != r.Arch {
		fmt.Fprintf(stdout, "image: not running the binary (image is linux/%s, this is %s/%s)\n", r.Arch, runtime.GOOS, runtime.GOARCH)
		return nil
	}
	got, err := runVersion(ctx, r.Binary)
	if err != nil {
		return err
	}
	if got.Version != r.Labels[labelVersion] || got.Revision != r.Labels[labelRevision] {
		return fmt.Errorf("the binary says version %q revision %q, the labels %q and %q",
			got.Version, got.Revision, r.Labels[labelVersion], r.Labels[labelRevision])
	}
	fmt.Fprintf(stdout, "image: /gatekeeper version --json agrees: %s %s (%s)\n", got.Version, got.Revision, got.GoVersion)
	return nil
}

type versionJSON struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	GoVersion string `json:"go_version"`
}

// runVersion runs the image's binary outside any container: it is static,
// so it runs the same here as in the image.
func runVersion(ctx context.Context, binary []byte) (versionJSON, error) {
	dir, err := os.MkdirTemp("", "image-check-")
	if err != nil {
		return versionJSON{}, fmt.Errorf("running the binary: %w", err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, binPath)
	if err := os.WriteFile(p, binary, 0o755); err != nil {
		return versionJSON{}, fmt.Errorf("running the binary: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, "version", "--json")
	cmd.Env = []string{} // as in the image: nothing from this machine
	out, err := cmd.Output()
	if err != nil {
		return versionJSON{}, fmt.Errorf("running /%s version --json: %w", binPath, err)
	}
	var v versionJSON
	if err := json.Unmarshal(out, &v); err != nil {
		return versionJSON{}, fmt.Errorf("/%s version --json printed %q: %w", binPath, out, err)
	}
	return v, nil
}
