//go:build pprof

// Profiling, for the benchmark only: a binary built with -tags pprof
// (scripts/bench --profile) serves net/http/pprof on the loopback address
// in GKBENCH_PPROF (e.g. 127.0.0.1:6060). Release builds have no such code;
// the variable does not start with GATEKEEPER_ so that configuration
// loading, which refuses unknown GATEKEEPER_ variables, never sees it.
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

func init() {
	addr := os.Getenv("GKBENCH_PPROF")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "gatekeeper: GKBENCH_PPROF must be a loopback host:port; profiling stays off")
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil {
			fmt.Fprintln(os.Stderr, "gatekeeper: pprof:", err)
		}
	}()
}
