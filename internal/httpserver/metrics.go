package httpserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// bearerOnly serves h only to a request carrying "Authorization: Bearer
// token" (a Prometheus scrape job's authorization.credentials_file); a
// zero token serves everyone. The comparison is of digests, in constant
// time, so it tells nothing of the token's length or prefix.
func bearerOnly(token sensitive.String, h http.Handler) http.Handler {
	if token.IsZero() {
		return h
	}
	want := sha256.Sum256([]byte("Bearer " + token.Reveal()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "/metrics needs the metrics token (Authorization: Bearer)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
