package egress

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Destination is one entry of the allowlist, as configured.
type Destination struct {
	// URL is scheme://host[:port][/path-prefix]: requests must use exactly
	// this scheme, host and port, and a path at or under the prefix (at a
	// segment boundary: /repos/acme covers /repos/acme/x, not /repos/acmex).
	URL string
	// Methods the agent may use; empty means GET only.
	Methods []string
	// Agents that may use the destination; empty means every agent of the
	// deployment, the stdio agent included.
	Agents []string
	// AllowPrivate lets the destination reach loopback, private, link-local
	// and shared (CGNAT) addresses: internal services, and tests.
	AllowPrivate bool
}

// Methods a destination may allow. CONNECT and TRACE are never sent.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// destination is a checked Destination.
type destination struct {
	conf    Destination
	t       target
	methods []string
	agents  []string
}

// CheckDestination reports every problem of d at once.
func CheckDestination(d Destination) error {
	_, err := parseDestination(d)
	return err
}

func parseDestination(d Destination) (destination, error) {
	var errs []error
	t, err := parseTarget(d.URL)
	if err != nil {
		errs = append(errs, err)
	} else if t.query != "" {
		errs = append(errs, fmt.Errorf("%w: a destination has no query, only scheme://host[:port]/path-prefix", ErrInvalidURL))
	}
	methods := d.Methods
	if len(methods) == 0 {
		methods = []string{"GET"}
	}
	for _, m := range methods {
		if !slices.Contains(Methods, m) {
			errs = append(errs, fmt.Errorf("method %q is not one of %s (upper case)", m, strings.Join(Methods, ", ")))
		}
	}
	for _, a := range d.Agents {
		if a == "" {
			errs = append(errs, errors.New("an empty agent name"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return destination{}, err
	}
	return destination{conf: d, t: t, methods: methods, agents: d.Agents}, nil
}

// forAgent reports whether agent may use the destination.
func (d destination) forAgent(agent string) bool {
	return len(d.agents) == 0 || slices.Contains(d.agents, agent)
}

// covers reports whether the destination covers t's origin and path.
func (d destination) covers(t target) bool {
	if t.scheme != d.t.scheme || t.host != d.t.host || t.port != d.t.port {
		return false
	}
	prefix := d.t.path
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(t.path, prefix)
	}
	return t.path == prefix || strings.HasPrefix(t.path, prefix+"/")
}

// String is how the destination is shown to the agent it is for.
func (d destination) String() string {
	return d.t.scheme + "://" + d.t.hostHeader() + d.t.path + " (" + strings.Join(d.methods, ", ") + ")"
}

// match finds the destination that allows agent to send method to t.
func (c *Client) match(agent, method string, t target) (destination, error) {
	var mine []string
	covered := false
	for _, d := range c.dests {
		if !d.forAgent(agent) {
			continue
		}
		mine = append(mine, d.String())
		if d.covers(t) {
			covered = true
			if slices.Contains(d.methods, method) {
				return d, nil
			}
		}
	}
	if covered {
		return destination{}, fmt.Errorf("%w: %s is not allowed to %s; allowed for you: %s", ErrNotAllowed, method, t.origin(), strings.Join(mine, "; "))
	}
	if len(mine) == 0 {
		return destination{}, fmt.Errorf("%w: no destination is allowed for you", ErrNotAllowed)
	}
	return destination{}, fmt.Errorf("%w: that URL is not under an allowed destination; allowed for you: %s", ErrNotAllowed, strings.Join(mine, "; "))
}
