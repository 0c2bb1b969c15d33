package suite

import (
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo/duotest"
)

// duoUser is the Duo user every agent's push goes to.
const duoUser = "ada"

// startDuo runs the project's local fake of Duo's Auth API, whose scripted
// human approves every push at the first status poll: an approval round
// trip with no human time in it. The returned function stops it.
func startDuo() (*duotest.Server, func()) {
	h := &host{}
	d := duotest.Start(h)
	d.SetUser(duoUser, duotest.User{Script: duotest.Script{Answer: duotest.Allow}})
	return d, h.cleanup
}

// host lets duotest.Start, written for tests, run in this program: the
// fake asks its testing.TB only for Helper and Cleanup. Any other method
// would panic on the nil interface, which would be a bug here.
type host struct {
	testing.TB
	cleanups []func()
}

func (h *host) Helper() {}

func (h *host) Cleanup(f func()) { h.cleanups = append(h.cleanups, f) }

func (h *host) cleanup() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
}
