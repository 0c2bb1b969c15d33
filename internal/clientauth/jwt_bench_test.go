package clientauth

import "testing"

// BenchmarkJWTAuthenticate: an agent's requests carry the same token, as
// they do over HTTP until it is renewed.
func BenchmarkJWTAuthenticate(b *testing.B) {
	p := newIDP(b, defaultJWKS(b)...)
	j := newTestJWT(b, p, true, nil)
	for _, alg := range []string{"HS256", "RS256", "ES256"} {
		r := bearer(signWith(b, alg, goodClaims()))
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
