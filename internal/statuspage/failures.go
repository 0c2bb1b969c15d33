package statuspage

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Wrong tokens are limited per client address: five in a row, then one try
// every 10 seconds. A 32-byte token is out of reach of guessing at any
// rate; this keeps a guessing loop slow and the audit log readable. The
// right token is never limited (login compares it first), so nobody can
// lock the operator out of the revoke button by sending wrong ones, not
// even from the operator's own address or from behind the same proxy.
const (
	failureBurst = 5
	failureEvery = 10 * time.Second
	// maxFailureAddrs bounds the addresses remembered. When full, an
	// address whose bucket has refilled goes first, else the one whose
	// last wrong token is the oldest.
	maxFailureAddrs = 1024
)

// failures is the wrong-token limiter: one token bucket per client address
// (an IPv6 client per /64, which one host usually holds whole).
type failures struct {
	mu     sync.Mutex
	byAddr map[netip.Prefix]*failure
}

type failure struct {
	bucket *rate.Limiter
	last   time.Time
	// noted: the closed sign-in was audited once for this run of wrong
	// tokens; the further refusals are not, until the bucket has a token
	// again.
	noted bool
}

func newFailures() *failures {
	return &failures{byAddr: map[netip.Prefix]*failure{}}
}

// clientKey is the bucket of a request's remote address. An address that
// does not parse shares one bucket.
func clientKey(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits) // bits fit the address
	return p
}

// wrong counts a wrong token from key. allowed says whether this attempt
// was within the limit (answer it as a wrong token); when it was not,
// audit says whether it is the first refusal of this run, to be audited.
func (f *failures) wrong(key netip.Prefix, now time.Time) (allowed, audit bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.byAddr[key]
	if !ok {
		f.makeRoom(now)
		e = &failure{bucket: rate.NewLimiter(rate.Every(failureEvery), failureBurst)}
		f.byAddr[key] = e
	}
	e.last = now
	if e.bucket.AllowN(now, 1) {
		e.noted = false
		return true, false
	}
	audit, e.noted = !e.noted, true
	return false, audit
}

// makeRoom drops one address when the map is full.
func (f *failures) makeRoom(now time.Time) {
	if len(f.byAddr) < maxFailureAddrs {
		return
	}
	var oldest netip.Prefix
	var first time.Time
	for k, e := range f.byAddr {
		if e.bucket.TokensAt(now) >= failureBurst {
			delete(f.byAddr, k) // refilled: it remembers nothing
			return
		}
		if first.IsZero() || e.last.Before(first) {
			oldest, first = k, e.last
		}
	}
	delete(f.byAddr, oldest)
}
