package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"time"
)

// The run-time user: a numeric id, so Kubernetes' runAsNonRoot can verify it
// without reading /etc/passwd, and the same id distroless images use.
const (
	userID    = 65532
	userName  = "gatekeeper"
	binPath   = "gatekeeper" // in the root: /gatekeeper
	caPath    = "etc/ssl/certs/ca-certificates.crt"
	imageUser = "65532:65532"
)

// rootfs is the image's single layer, as an uncompressed tar.
type rootfs struct {
	Binary   []byte
	CABundle []byte
	ModTime  time.Time // every entry's; fixed so the same inputs give the same digest
}

func (r rootfs) tar() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: r.ModTime, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: r.ModTime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("%s:x:%d:%d:Gatekeeper:/nonexistent:/sbin/nologin\n", userName, userID, userID)
	group := fmt.Sprintf("%s:x:%d:\n", userName, userID)
	steps := []func() error{
		// Owned by root and not writable by the user it runs as.
		func() error { return file(binPath, 0o555, r.Binary) },
		func() error { return dir("etc/", 0o755) },
		func() error { return file("etc/passwd", 0o444, []byte(passwd)) },
		func() error { return file("etc/group", 0o444, []byte(group)) },
		func() error { return dir("etc/ssl/", 0o755) },
		func() error { return dir("etc/ssl/certs/", 0o755) },
		func() error { return file(caPath, 0o444, r.CABundle) },
		// A mount point; with readOnlyRootFilesystem an emptyDir goes here.
		func() error { return dir("tmp/", 0o1777) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("writing the layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// readFile reads an input file, naming it in the error.
func readFile(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("the %s %s is empty", what, path)
	}
	return b, nil
}
