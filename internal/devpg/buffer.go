package devpg

import (
	"bytes"
	"sync"
)

// boundedBuffer keeps the first 256 KiB a server prints: enough for its
// start-up and any failure early in a test, without growing through a long
// one.
type boundedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

const bufferLimit = 256 << 10

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := bufferLimit - b.b.Len(); room > 0 {
		b.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
