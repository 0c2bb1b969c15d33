package bench

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime and stime are fields
	// 14 and 15 (in clock ticks of 10ms).
	line := []byte("4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 8 0 1000 1000000 500 18446744073709551615\n")
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("parseStat = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 12 13"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestParseKB(t *testing.T) {
	if n, err := parseKB("   2048 kB"); err != nil || n != 2048*1024 {
		t.Errorf("parseKB = %d, %v", n, err)
	}
	for _, bad := range []string{"", "12", "12 MB", "x kB"} {
		if _, err := parseKB(bad); err == nil {
			t.Errorf("parseKB(%q) succeeded", bad)
		}
	}
}

func TestOwnProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	rss, err := RSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Errorf("RSS = %d, %v", rss, err)
	}
	if _, err := CPUTime(os.Getpid()); err != nil {
		t.Errorf("CPUTime: %v", err)
	}
	if _, err := RSS(-1); err == nil {
		t.Error("RSS of no process succeeded")
	}
}
