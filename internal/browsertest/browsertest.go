// Package browsertest starts headless Chromium for the tests of every page a
// human answers on (the approval page, passkey registration, the status
// page): Debian's Chromium (package "chromium", which scripts/test
// installs), driven over the DevTools protocol. The tests fail, not skip,
// without it: a page nobody opened in a browser is not tested.
package browsertest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// Lifetime bounds a whole browser: a hung page fails the test in bounded
// time. Step bounds one Do or Read.
const (
	Lifetime = 2 * time.Minute
	Step     = 30 * time.Second
)

// Chromium is the browser's path.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("this test needs Chromium: install the Debian package chromium (apt-get install -y chromium; scripts/test does)")
	return ""
}

// Options change how the tab starts.
type Options struct {
	// NoScript turns JavaScript off: pages that must work without it.
	NoScript bool
}

// Tab starts a headless Chromium with one tab, in a fresh profile, alive
// until the test ends or Lifetime passes.
func Tab(t testing.TB, o Options) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		// Without these the browser reaches for the network, which a
		// closed network refuses.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), Lifetime)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	// The first command starts the browser.
	var err error
	if o.NoScript {
		_, err = chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	} else {
		err = chromedp.Do(tab, chromedp.Navigate("about:blank"))
	}
	if err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return tab
}

// Do runs steps in tab, each call bounded by Step.
func Do(t testing.TB, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, Step)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// Read runs one action that returns a value.
func Read[T any](t testing.TB, tab context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, Step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// WaitText waits until the text of the element css contains want. It reads
// the element afresh each time, so it follows a click that loads another
// page, and on failure says what the page said last and where it was (the
// old page, a refusal, a page that never came).
func WaitText(t testing.TB, tab context.Context, css, want string) {
	t.Helper()
	deadline := time.Now().Add(Step)
	last := "(no such element)"
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tab, time.Second)
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
		cancel()
		if err == nil {
			if strings.Contains(text, want) {
				return
			}
			last = text
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	where, _ := chromedp.Run(ctx, chromedp.Location())
	t.Fatalf("after %s, %s on %s says %q, want %q", Step, css, where, last, want)
}
