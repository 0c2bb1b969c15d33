// Command image builds Gatekeeper's container image without a Docker
// engine, and checks one.
//
//	image build --binary bin/gatekeeper --version v1.2.3 --revision COMMIT --out gatekeeper.tar
//	image check --tarball gatekeeper.tar
//
// CI has no Docker daemon and reaches no container registry, so neither
// `docker build` nor ko (which needs its base image from a registry) can run
// there. This builds the same image the Dockerfile describes, directly with
// go-containerregistry: an empty base (no distribution, no shell), one layer
// holding the static binary, CA certificates and passwd/group entries for
// the numeric non-root user, and an OCI config with that user, the
// entrypoint and the OCI labels. The result is a `docker save`-style tarball
// (`docker load -i`, `crane push`, `skopeo copy docker-archive:...`) and,
// with --oci-layout, an OCI image layout directory.
//
// check reads a tarball back and refuses it unless the user is numeric and
// not root, the entrypoint is /gatekeeper, /gatekeeper is a static
// executable owned by root and the only executable file in the image (so
// there is no shell), and the version and revision labels are set. Where the
// image's platform is the machine's, it also runs the binary's `version
// --json` and compares it with the labels.
//
// It is a separate module so that go-containerregistry never enters
// Gatekeeper's own go.mod.
package main
