//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package nodetest

// lockFile is a no-op where there is no flock: tests still work, but two
// test binaries that both find node_modules stale may run npm ci together.
func lockFile(string, func()) (unlock func(), err error) { return func() {}, nil }
