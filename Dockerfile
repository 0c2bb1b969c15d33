# syntax=docker/dockerfile:1
#
# Gatekeeper's container image: one static binary on an empty base, run as a
# numeric non-root user, with no shell or package manager at run time, and
# nothing written to the root filesystem (it runs with
# readOnlyRootFilesystem: the audit file, passkey store and secrets come from
# volumes).
#
#   docker build -t gatekeeper --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --rm gatekeeper version
#   docker run -i --rm -e VAULT_ADDR -e VAULT_TOKEN gatekeeper          # MCP over stdio
#   docker run --rm -p 8080:8080 -e VAULT_ADDR -e VAULT_TOKEN -e GATEKEEPER_AGENTS=alice \
#     -e GATEKEEPER_JWT_SECRET gatekeeper serve --http 0.0.0.0:8080
#
# CI builds the same layout without a Docker engine: tools/image (see
# docs/deploy.md).

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=
WORKDIR /src
ENV GOCACHE=/cache/go-build
COPY go.mod go.sum ./
# The MCP SDK with one patch (third_party/README.md); go.mod replaces it.
COPY third_party/go-sdk ./third_party/go-sdk
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY internal ./internal
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X github.com/gatekeeper-mcp/gatekeeper/internal/cli.Version=${VERSION} -X github.com/gatekeeper-mcp/gatekeeper/internal/cli.Revision=${REVISION}" \
      -o /out/gatekeeper ./cmd/gatekeeper
# The run-time filesystem: the binary, CA certificates for Vault and IdPs
# over TLS, and passwd/group entries so the numeric user has a name.
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp \
 && cp /out/gatekeeper /rootfs/gatekeeper \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'gatekeeper:x:65532:65532:Gatekeeper:/nonexistent:/sbin/nologin' >/rootfs/etc/passwd \
 && echo 'gatekeeper:x:65532:' >/rootfs/etc/group \
 && chmod 1777 /rootfs/tmp

FROM scratch
ARG VERSION=dev
ARG REVISION=
COPY --from=build /rootfs/ /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/gatekeeper"]
CMD ["serve"]
LABEL org.opencontainers.image.title="gatekeeper" \
      org.opencontainers.image.description="Zero-standing-access secrets broker for AI agents (MCP) in front of OpenBao / Vault" \
      org.opencontainers.image.source="https://github.com/gatekeeper-mcp/gatekeeper" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
