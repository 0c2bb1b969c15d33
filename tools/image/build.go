package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BuildOptions describe one image.
type BuildOptions struct {
	Binary   []byte // a static linux executable
	CABundle []byte // PEM CA certificates
	Arch     string // GOARCH of Binary: amd64, arm64, ...
	Version  string
	Revision string
	Source   string    // org.opencontainers.image.source
	Created  time.Time // image and file times
}

// Validate reports every problem at once.
func (o BuildOptions) Validate() error {
	var errs []error
	if len(o.Binary) == 0 {
		errs = append(errs, errors.New("no binary"))
	} else if err := staticELF(o.Binary); err != nil {
		errs = append(errs, fmt.Errorf("the binary: %w", err))
	}
	if len(o.CABundle) == 0 {
		errs = append(errs, errors.New("no CA bundle"))
	} else if !bytes.Contains(o.CABundle, []byte("-----BEGIN CERTIFICATE-----")) {
		errs = append(errs, errors.New("the CA bundle holds no PEM certificate"))
	}
	if o.Arch == "" {
		errs = append(errs, errors.New("no architecture"))
	}
	if o.Version == "" {
		errs = append(errs, errors.New("no version"))
	}
	return errors.Join(errs...)
}

// Build returns the image: an empty base plus one layer, OCI media types.
func Build(o BuildOptions) (v1.Image, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	layerTar, err := rootfs{Binary: o.Binary, CABundle: o.CABundle, ModTime: o.Created}.tar()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("making the layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "tools/image: gatekeeper, CA certificates, passwd", Comment: "gatekeeper " + o.Version},
	})
	if err != nil {
		return nil, fmt.Errorf("adding the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = o.Arch, "linux"
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:         imageUser,
		Entrypoint:   []string{"/" + binPath},
		Cmd:          []string{"serve"},
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Labels:       labels(o),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("writing the config: %w", err)
	}
	return img, nil
}

// OCI labels, as the Dockerfile sets them.
const (
	labelTitle    = "org.opencontainers.image.title"
	labelVersion  = "org.opencontainers.image.version"
	labelRevision = "org.opencontainers.image.revision"
	labelSource   = "org.opencontainers.image.source"
	labelCreated  = "org.opencontainers.image.created"
)

func labels(o BuildOptions) map[string]string {
	l := map[string]string{
		labelTitle:                             "gatekeeper",
		labelVersion:                           o.Version,
		labelCreated:                           o.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.description": "Zero-standing-access secrets broker for AI agents (MCP) in front of OpenBao / Vault",
	}
	if o.Revision != "" {
		l[labelRevision] = o.Revision
	}
	if o.Source != "" {
		l[labelSource] = o.Source
	}
	return l
}

// staticELF refuses anything but a statically linked Linux executable: on
// an empty base there is no dynamic loader and no libc.
func staticELF(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("not a Linux executable (OS ABI %v)", f.OSABI)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("not an executable (%v)", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (build with CGO_ENABLED=0)")
		}
	}
	return nil
}

// elfArch is the GOARCH of an ELF executable.
func elfArch(b []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", fmt.Errorf("unknown machine %v", f.Machine)
}
