package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var (
	fakeOnce sync.Once
	fakeBin  []byte
	fakeErr  error
)

// fakeBinary builds testdata/fakegatekeeper as a static executable.
func fakeBinary(t *testing.T) []byte {
	t.Helper()
	fakeOnce.Do(func() {
		out := filepath.Join(os.TempDir(), "image-test-fakegatekeeper")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/fakegatekeeper")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			fakeErr = err
			t.Logf("%s", b)
			return
		}
		fakeBin, fakeErr = os.ReadFile(out)
		os.Remove(out)
	})
	if fakeErr != nil {
		t.Fatalf("building the fake binary: %v", fakeErr)
	}
	return fakeBin
}

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func options(t *testing.T) BuildOptions {
	return BuildOptions{
		Binary: fakeBinary(t), CABundle: []byte(testCA), Arch: runtime.GOARCH,
		Version: "v0.0.0-test", Revision: "0123abcd", Created: time.Unix(1700000000, 0).UTC(),
	}
}

// writeAndRead round-trips an image through a docker-save tarball.
func writeAndRead(t *testing.T, img v1.Image) (string, v1.Image) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.Write(mustTag(t), img, mustCreate(t, p)); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, back
}

func TestBuildAndInspect(t *testing.T) {
	img, err := Build(options(t))
	if err != nil {
		t.Fatal(err)
	}
	_, back := writeAndRead(t, img)
	r, err := Inspect(back)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	want := Report{
		User: "65532:65532", Entrypoint: []string{"/gatekeeper"}, Cmd: []string{"serve"},
		OS: "linux", Arch: runtime.GOARCH, Executables: []string{"/gatekeeper"},
		Labels: map[string]string{
			labelTitle: "gatekeeper", labelVersion: "v0.0.0-test", labelRevision: "0123abcd",
			labelCreated:                           "2023-11-14T22:13:20Z",
			"org.opencontainers.image.description": "Zero-standing-access secrets broker for AI agents (MCP) in front of OpenBao / Vault",
		},
	}
	if diff := cmp.Diff(want, r, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Binary" }, cmp.Ignore())); diff != "" {
		t.Errorf("report mismatch (-want +got):\n%s", diff)
	}
	files := listFiles(t, back)
	wantFiles := []string{
		"gatekeeper 555 uid0", "etc/ 755 uid0", "etc/passwd 444 uid0", "etc/group 444 uid0", "etc/ssl/ 755 uid0",
		"etc/ssl/certs/ 755 uid0", "etc/ssl/certs/ca-certificates.crt 444 uid0", "tmp/ 1777 uid0",
	}
	if diff := cmp.Diff(wantFiles, files); diff != "" {
		t.Errorf("layer mismatch (-want +got):\n%s", diff)
	}
	// A docker-save tarball keeps no manifest (reading it back makes a
	// Docker one); the OCI media types are the built image's and the
	// layout's.
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("media types %s / %s, want OCI", m.MediaType, m.Config.MediaType)
	}
}

func TestBuildIsReproducible(t *testing.T) {
	var digests []string
	for range 2 {
		img, err := Build(options(t))
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("same inputs, different digests: %v", digests)
	}
}

func TestBuildRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*BuildOptions)
		want   string
	}{
		{"fail/no-binary", func(o *BuildOptions) { o.Binary = nil }, "no binary"},
		{"fail/not-elf", func(o *BuildOptions) { o.Binary = []byte("#!/bin/sh\necho hi\n") }, "not an ELF"},
		{"fail/no-pem", func(o *BuildOptions) { o.CABundle = []byte("nothing") }, "no PEM"},
		{"fail/no-version", func(o *BuildOptions) { o.Version = "" }, "no version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := options(t)
			tc.change(&o)
			_, err := Build(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestCheckRefuses(t *testing.T) {
	img, err := Build(options(t))
	if err != nil {
		t.Fatal(err)
	}
	good, err := Inspect(img)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Report)
		want   string
	}{
		{"fail/root", func(r *Report) { r.User = "0:0" }, "is root"},
		{"fail/no-user", func(r *Report) { r.User = "" }, "not numeric"},
		{"fail/named-user", func(r *Report) { r.User = "gatekeeper" }, "not numeric"},
		{"fail/shell-entrypoint", func(r *Report) { r.Entrypoint = []string{"/bin/sh", "-c"} }, "entrypoint"},
		{"fail/cmd", func(r *Report) { r.Cmd = nil }, "cmd"},
		{"fail/shell", func(r *Report) { r.Executables = append(r.Executables, "/bin/sh") }, "no shell"},
		{"fail/no-binary", func(r *Report) { r.Binary = nil }, "no /gatekeeper"},
		{"fail/wrong-arch", func(r *Report) { r.Arch = "s390x" }, "the image says"},
		{"fail/no-revision", func(r *Report) { delete(r.Labels, labelRevision) }, labelRevision},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			r.Labels = map[string]string{}
			for k, v := range good.Labels {
				r.Labels[k] = v
			}
			r.Executables = append([]string(nil), good.Executables...)
			tc.change(&r)
			if err := r.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestCheckFindsAShellLayer adds a layer with a shell on top of a good
// image, as a careless base image would, and expects check to refuse it.
func TestCheckFindsAShellLayer(t *testing.T) {
	img, err := Build(options(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2})
	tw.Write([]byte("sh"))
	tw.WriteHeader(&tar.Header{Name: "bin/bash", Typeflag: tar.TypeSymlink, Linkname: "sh"})
	tw.Close()
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	withShell, err := mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatal(err)
	}
	_, back := writeAndRead(t, withShell)
	r, err := Inspect(back)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Check()
	if err == nil || !strings.Contains(err.Error(), "/bin/sh") || !strings.Contains(err.Error(), "/bin/bash -> sh") {
		t.Errorf("Check = %v, want /bin/sh and /bin/bash reported", err)
	}
}

// TestCommands runs build and check as CI does, through the command line.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatekeeper")
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bin, fakeBinary(t), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, []byte(testCA), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"build", "--binary", bin, "--ca-bundle", ca, "--version", "v0.0.0-test",
		"--revision", "0123abcd", "--out", out, "--oci-layout", filepath.Join(dir, "oci")}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr.String())
	}
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatalf("reading the OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("OCI layout index: %+v, %v", im, err)
	}
	stdout.Reset()
	if err := run(t.Context(), []string{"check", "--tarball", out}, &stdout, &stderr); err != nil {
		t.Fatalf("check: %v\n%s", err, stderr.String())
	}
	if runtime.GOOS == "linux" && !strings.Contains(stdout.String(), "version --json agrees: v0.0.0-test 0123abcd") {
		t.Errorf("check did not run the binary:\n%s", stdout.String())
	}

	// The labels and the binary disagree: refused.
	mismatched := filepath.Join(dir, "mismatch.tar")
	if err := run(t.Context(), []string{"build", "--binary", bin, "--ca-bundle", ca, "--version", "v9", "--revision", "0123abcd", "--out", mismatched}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), []string{"check", "--tarball", mismatched}, io.Discard, io.Discard)
	if runtime.GOOS == "linux" && (err == nil || !strings.Contains(err.Error(), "the binary says version")) {
		t.Errorf("check of mismatched labels = %v", err)
	}
}

func TestTagFor(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":             "v1.2.3",
		"v1.2.3-4-gabc+meta": "v1.2.3-4-gabc_meta",
		"c014329-dirty":      "c014329-dirty",
	} {
		if got := tagFor(in); got != want {
			t.Errorf("tagFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func listFiles(t *testing.T, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{h.Name, strconvOctal(h.Mode), "uid" + strconvInt(h.Uid)}, " "))
	}
}
