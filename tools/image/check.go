package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Report is what check found in an image.
type Report struct {
	User        string
	Entrypoint  []string
	Cmd         []string
	OS, Arch    string
	Labels      map[string]string
	Executables []string // every regular file with an execute bit, or a symlink
	Binary      []byte   // /gatekeeper, for running it
}

// Inspect reads an image's config and flattened filesystem.
func Inspect(img v1.Image) (Report, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return Report{}, fmt.Errorf("reading the image config: %w", err)
	}
	r := Report{
		User: cf.Config.User, Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd,
		OS: cf.OS, Arch: cf.Architecture, Labels: cf.Config.Labels,
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Report{}, fmt.Errorf("reading the image filesystem: %w", err)
		}
		name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch {
		case h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink:
			r.Executables = append(r.Executables, name+" -> "+h.Linkname)
		case h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0:
			r.Executables = append(r.Executables, name)
			if name == "/"+binPath {
				if h.Uid != 0 || h.Mode&0o022 != 0 {
					r.Executables[len(r.Executables)-1] += fmt.Sprintf(" (uid %d, mode %o: writable by its user)", h.Uid, h.Mode)
				}
				if r.Binary, err = io.ReadAll(tr); err != nil {
					return Report{}, fmt.Errorf("reading %s: %w", name, err)
				}
			}
		}
	}
	slices.Sort(r.Executables)
	return r, nil
}

// Check returns every way the image falls short of what the Deployment and
// the security model rely on.
func (r Report) Check() error {
	var errs []error
	uid, _, _ := strings.Cut(r.User, ":")
	if n, err := strconv.Atoi(uid); err != nil {
		errs = append(errs, fmt.Errorf("user %q is not numeric (runAsNonRoot cannot verify a name)", r.User))
	} else if n == 0 {
		errs = append(errs, fmt.Errorf("user %q is root", r.User))
	}
	if !slices.Equal(r.Entrypoint, []string{"/" + binPath}) {
		errs = append(errs, fmt.Errorf("entrypoint is %q, want [/%s]", r.Entrypoint, binPath))
	}
	if !slices.Equal(r.Cmd, []string{"serve"}) {
		errs = append(errs, fmt.Errorf("cmd is %q, want [serve]", r.Cmd))
	}
	if r.OS != "linux" {
		errs = append(errs, fmt.Errorf("os is %q, want linux", r.OS))
	}
	if !slices.Equal(r.Executables, []string{"/" + binPath}) {
		errs = append(errs, fmt.Errorf("executables and links %q, want only /%s (no shell, no tools)", r.Executables, binPath))
	}
	if r.Binary == nil {
		errs = append(errs, fmt.Errorf("no /%s in the image", binPath))
	} else if err := staticELF(r.Binary); err != nil {
		errs = append(errs, fmt.Errorf("/%s: %w", binPath, err))
	} else if arch, err := elfArch(r.Binary); err != nil || arch != r.Arch {
		errs = append(errs, fmt.Errorf("/%s is for %q (%v), the image says %q", binPath, arch, err, r.Arch))
	}
	for _, l := range []string{labelVersion, labelRevision} {
		if r.Labels[l] == "" {
			errs = append(errs, fmt.Errorf("label %s is not set", l))
		}
	}
	return errors.Join(errs...)
}
