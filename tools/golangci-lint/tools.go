//go:build tools

// Package tools pins golangci-lint, the static analysis scripts/test runs
// on Gatekeeper's own code (.golangci.yml at the root). It lives in this
// separate module so that its dependency graph never enters Gatekeeper's
// own go.mod; golangci-lint-bin builds it.
package tools

import _ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
