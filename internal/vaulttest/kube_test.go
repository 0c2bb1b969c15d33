package vaulttest_test

import (
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// TestKubernetesAuthConfigSuitsOpenBao: the Kubernetes auth config the tests
// write is one OpenBao accepts too. OpenBao refuses disable_local_ca_jwt
// without kubernetes_ca_cert; Vault accepts both, so what Vault stored is
// checked, and that Vault verifies the API's TLS with that certificate
// (TestKubernetesLogin logs in through it).
func TestKubernetesAuthConfigSuitsOpenBao(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	kube := vaulttest.StartKubeAPI(t)
	vaulttest.EnableKubernetesAuth(t, srv, kube, "kubernetes")
	cfg, err := vaulttest.Client(t, srv).Read(t.Context(), vaulttest.Root(srv), "auth/kubernetes/config")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data["disable_local_ca_jwt"] != true {
		t.Errorf("disable_local_ca_jwt = %v, want true (no in-pod defaults)", cfg.Data["disable_local_ca_jwt"])
	}
	ca, _ := cfg.Data["kubernetes_ca_cert"].(string)
	block, _ := pem.Decode([]byte(ca))
	if block == nil {
		t.Fatalf("kubernetes_ca_cert = %q, want the API's PEM certificate (OpenBao demands it with disable_local_ca_jwt)", ca)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		t.Fatalf("kubernetes_ca_cert: %v", err)
	}
}
