//go:build !race

// The race detector allocates on its own account, so this check runs only
// in a build without it: scripts/test runs it on its own.

package mcptools

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

var updateAllocs = flag.Bool("update-allocs", false, "write the allocations measured by TestAllocsPerRead as its new baseline")

// allocsBaseline is the committed number of allocations per read.
const allocsBaseline = "testdata/allocs-per-read.txt"

// allocsMargin is how far above the baseline a read may allocate before
// the check fails. Allocation counts are exact where times are not: run to
// run they do not vary here, so 1 % (four allocations) is room for a Go
// release that allocates a little differently, not for noise.
const allocsMargin = 0.01

// TestAllocsPerRead counts the allocations of one read_secret (readInMemory)
// and fails when a read allocates more than allocsMargin above the
// committed baseline. After a change that allocates more for a good
// reason, or less, write the new baseline and commit it:
//
//	go test -run TestAllocsPerRead ./internal/mcptools -update-allocs
func TestAllocsPerRead(t *testing.T) {
	read := readInMemory(t)
	read() // the first call sets up what later ones reuse (the connection to Vault)
	got := testing.AllocsPerRun(500, read)

	if *updateAllocs {
		if err := os.WriteFile(allocsBaseline, fmt.Appendf(nil, "%.0f\n", got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%.1f allocations per read, written to %s", got, allocsBaseline)
		return
	}
	want, err := readAllocsBaseline()
	if err != nil {
		t.Fatal(err)
	}
	limit := math.Floor(want * (1 + allocsMargin))
	t.Logf("%.1f allocations per read; baseline %.0f, limit %.0f", got, want, limit)
	if got > limit {
		t.Errorf("read_secret allocates %.1f times per call, more than %.0f (the baseline in %s, %.0f, plus %.0f%%). "+
			"Find the new allocations (go test -run TestAllocsPerRead -memprofile mem.out -memprofilerate 1 ./internal/mcptools, "+
			"then go tool pprof -sample_index alloc_objects mem.out), "+
			"or, if they are worth it, write the new baseline and commit it: "+
			"go test -run TestAllocsPerRead ./internal/mcptools -update-allocs",
			got, limit, allocsBaseline, want, allocsMargin*100)
	}
}

// BenchmarkReadInMemory is the cost of the read TestAllocsPerRead counts:
//
//	go test -run XXX -bench ReadInMemory -benchmem ./internal/mcptools
func BenchmarkReadInMemory(b *testing.B) {
	read := readInMemory(b)
	b.ReportAllocs()
	for b.Loop() {
		read()
	}
}

// readInMemory returns one read_secret: an MCP client and Gatekeeper's MCP
// server in this process, connected in memory, and Gatekeeper's Vault
// client reading from a local server that answers at once.
func readInMemory(t testing.TB) func() {
	vc, err := vault.New(vault.Options{Address: vaulttest.KVReadStandIn(t)})
	if err != nil {
		t.Fatal(err)
	}
	cs := connectWith(t, Options{Access: &stubAccess{}, Vault: vc}, nil, "")
	params := &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"path": "db"}}
	return func() {
		res, err := cs.CallTool(t.Context(), params)
		if err != nil || res.IsError {
			t.Fatalf("read_secret: %v %+v", err, res)
		}
	}
}

func readAllocsBaseline() (float64, error) {
	f, err := os.Open(allocsBaseline)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, fmt.Errorf("%s is empty", allocsBaseline)
	}
	return strconv.ParseFloat(strings.TrimSpace(sc.Text()), 64)
}
