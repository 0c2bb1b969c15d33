package main

import (
	"os"
	"strconv"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func mustTag(t *testing.T) name.Tag {
	t.Helper()
	tag, err := name.NewTag("gatekeeper:test")
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func mustCreate(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func strconvOctal(m int64) string { return strconv.FormatInt(m, 8) }
func strconvInt(i int) string     { return strconv.Itoa(i) }
