package clientauth

import (
	"errors"
	"net/http"
)

// Chain tries methods in order. The first method that finds a credential
// decides: its identity is the caller's, and its refusal is final — a refused
// credential never falls through to the next method, or a request carrying a
// forged JWT next to a valid API key would be let in by the key. When no
// method finds a credential the answer is ErrNoCredential.
//
// Before any method authenticates, every method that polices the request as
// a whole (today: MTLS, which refuses an identity header from an address
// that is not a trusted proxy) may veto it. So those rules hold whatever the
// order, and a valid API key cannot launder a spoofed certificate header.
//
// Chain panics on a nil method: that is a programming error, not config.
func Chain(methods ...Method) Method {
	for _, m := range methods {
		if m == nil {
			panic("clientauth: Chain given a nil Method")
		}
	}
	return chain(append([]Method(nil), methods...))
}

// screener is implemented by methods with a rule that must hold for every
// request, whichever method ends up authenticating it. screen returns nil or
// an error wrapping ErrInvalid.
type screener interface {
	screen(r *http.Request) error
}

type chain []Method

func (chain) Name() string { return "chain" }

func (c chain) Authenticate(r *http.Request) (*Identity, error) {
	if err := c.screen(r); err != nil {
		return nil, err
	}
	for _, m := range c {
		id, err := m.Authenticate(r)
		switch {
		case errors.Is(err, ErrNoCredential):
			continue
		case err != nil:
			// ErrInvalid, or anything unexpected: either way the request
			// is not authenticated and no other method gets a say.
			return nil, err
		case id == nil:
			return nil, refuse(m.Name() + ": no identity")
		}
		return id, nil
	}
	return nil, ErrNoCredential
}

// screen lets a chain inside a chain keep its members' vetoes.
func (c chain) screen(r *http.Request) error {
	for _, m := range c {
		if s, ok := m.(screener); ok {
			if err := s.screen(r); err != nil {
				return err
			}
		}
	}
	return nil
}
