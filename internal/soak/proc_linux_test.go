package soak

import (
	"net"
	"os"
	"testing"
)

func TestConnsTo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for i := range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The accepted ends have the port as their local one: not counted.
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if n, err := connsTo(os.Getpid(), port); err != nil || n != i+1 {
			t.Fatalf("after %d connections connsTo = %d, %v", i+1, n, err)
		}
	}
	if n, err := connsTo(os.Getpid(), port+1); err != nil || n != 0 {
		t.Errorf("connections to another port = %d, %v; want 0", n, err)
	}
}
