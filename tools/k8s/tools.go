//go:build tools

// Package tools pins the Kubernetes tools CI runs on the Helm chart: Helm
// (lint, template) and kubeconform (schema validation). They live in this
// separate module so that their dependency graphs never enter Gatekeeper's
// own go.mod. k8s-bin builds them.
package tools

import (
	_ "github.com/yannh/kubeconform/cmd/kubeconform"
	_ "helm.sh/helm/v3/cmd/helm"
)
