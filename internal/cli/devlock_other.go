//go:build !unix

package cli

import "io"

// lockFolder does not lock where flock is missing: a second run on the
// folder fails when its Vault cannot take the first one's port.
func lockFolder(string) (io.Closer, error) { return io.NopCloser(nil), nil }
