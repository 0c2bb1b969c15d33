package soak

import (
	"context"
	"sync"
	"time"
)

// Fleet is the agents at work, each in its own goroutine, each making a
// call about every interval (jittered, so they do not march in step).
type Fleet struct {
	agents   []*agent
	interval time.Duration

	// gate lets Pause wait for the calls in flight and hold new ones, so
	// that the process can be measured at rest.
	gate   sync.RWMutex
	paused bool // only the goroutine that runs the fleet touches it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewFleet prepares the agents; canaries holds each agent's planted value.
func NewFleet(specs []AgentSpec, canaries map[string]string, url string, interval time.Duration, rec *Recorder) *Fleet {
	f := &Fleet{interval: interval}
	for _, s := range specs {
		f.agents = append(f.agents, newAgent(s, url, canaries[s.Name], rec))
	}
	return f
}

// Start sets every agent to work until Stop.
func (f *Fleet) Start(ctx context.Context) {
	ctx, f.cancel = context.WithCancel(ctx)
	for _, a := range f.agents {
		f.wg.Go(func() {
			defer a.close()
			wait := time.Duration(a.rng.Int64N(int64(f.interval)))
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				f.gate.RLock()
				if ctx.Err() == nil {
					a.step(ctx)
				}
				f.gate.RUnlock()
				wait = f.interval/2 + time.Duration(a.rng.Int64N(int64(f.interval)))
			}
		})
	}
}

// Pause returns once no call is in flight; until Resume no agent starts
// one.
func (f *Fleet) Pause() {
	f.gate.Lock()
	f.paused = true
}

// Resume lets the agents go on.
func (f *Fleet) Resume() {
	f.paused = false
	f.gate.Unlock()
}

// Stop ends the agents, paused or not, and waits for them.
func (f *Fleet) Stop() {
	if f.cancel != nil {
		f.cancel()
	}
	if f.paused {
		f.Resume() // they see the cancellation before calling anything
	}
	f.wg.Wait()
}

// Values returns, per agent, every value it planted or tried to write.
// Call it after Stop.
func (f *Fleet) Values() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, a := range f.agents {
		out[a.spec.Name] = a.values
	}
	return out
}
