package soak

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Needle is a secret that must appear in no log. Name describes it in the
// report; the value itself is never printed.
type Needle struct {
	Name  string
	Value string
}

// tokenShape matches Vault (hvs., hvb., hvr.) and OpenBao (s., b., r.)
// tokens where they start a word.
var tokenShape = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.])((?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,})`)

// hexRun finds runs of lower-case hex long enough to hold a canary's random
// part.
var hexRun = regexp.MustCompile(`[0-9a-f]{24,}`)

// crashMarks are what a Go program prints when it dies badly or races.
var crashMarks = []string{"panic: ", "fatal error: ", "WARNING: DATA RACE"}

// scanCrashes looks for crash marks in Gatekeeper's logs.
func scanCrashes(f *findings, paths []string) error {
	f.pass(CheckNoCrash)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		for _, m := range crashMarks {
			if i := bytes.Index(b, []byte(m)); i >= 0 {
				f.fail(CheckNoCrash, "%s line %d: %q", filepath.Base(p), lineOf(b, i), strings.TrimSpace(m))
			}
		}
	}
	return nil
}

// scanFiles searches every file for the needles, for anything that starts
// like a canary value, for the random part of any canary (in case a value
// was cut or re-encoded around it) and for token-shaped strings.
func scanFiles(f *findings, paths []string, needles []Needle, canaries map[string]bool) (scanned int64, err error) {
	f.pass(CheckSecrets)
	randomParts := map[string]bool{}
	for v := range canaries {
		if i := strings.LastIndexByte(v, '-'); i >= 0 {
			randomParts[v[i+1:]] = true
		}
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return scanned, fmt.Errorf("reading %s: %w", p, err)
		}
		scanned += int64(len(b))
		name := filepath.Base(p)
		if i := bytes.Index(b, []byte(CanaryPrefix)); i >= 0 {
			f.fail(CheckSecrets, "%s line %d holds a secret value (a planted or written canary)", name, lineOf(b, i))
		}
		for _, n := range needles {
			if n.Value == "" {
				continue
			}
			if i := bytes.Index(b, []byte(n.Value)); i >= 0 {
				f.fail(CheckSecrets, "%s line %d holds %s", name, lineOf(b, i), n.Name)
			}
		}
		for _, m := range hexRun.FindAllIndex(b, -1) {
			run := b[m[0]:m[1]]
			for i := 0; i+24 <= len(run); i++ {
				if randomParts[string(run[i:i+24])] {
					f.fail(CheckSecrets, "%s line %d holds the random part of a secret value", name, lineOf(b, m[0]))
					break
				}
			}
		}
		for _, m := range tokenShape.FindAllSubmatchIndex(b, -1) {
			tok := b[m[2]:m[3]]
			f.fail(CheckSecrets, "%s line %d holds something shaped like a token (%.4s…)", name, lineOf(b, m[2]), tok)
		}
	}
	return scanned, nil
}

func lineOf(b []byte, offset int) int { return bytes.Count(b[:offset], []byte("\n")) + 1 }
