package child

import (
	"net"
	"slices"
	"strconv"
	"testing"
)

func TestEnv(t *testing.T) {
	t.Setenv("VAULT_ADDR", "http://elsewhere")
	t.Setenv("VAULT_TOKEN", "x")
	t.Setenv("HOME", "/home/someone")
	t.Setenv("HOMEWORK", "kept")
	env := Env("VAULT_", "HOME=")
	for _, kv := range []string{"VAULT_ADDR=http://elsewhere", "VAULT_TOKEN=x", "HOME=/home/someone"} {
		if slices.Contains(env, kv) {
			t.Errorf("Env kept %s", kv)
		}
	}
	if !slices.Contains(env, "HOMEWORK=kept") {
		t.Error("Env dropped HOMEWORK, which only shares a prefix with HOME")
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listening on the free port %d: %v", port, err)
	}
	l.Close()
}
