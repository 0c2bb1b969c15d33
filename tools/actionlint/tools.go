//go:build tools

// Package tools pins actionlint, the linter CI runs on its own workflow
// files (.github/workflows). It lives in this separate module so that its
// dependency graph never enters Gatekeeper's own go.mod; actionlint-bin
// builds it.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
