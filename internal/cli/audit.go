package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

const (
	auditUsage   = "Usage: gatekeeper audit verify [--key-file FILE] [--head MAC] FILE..."
	auditSummary = `Check the hash chain of a set of audit files (the active file and its rotated files, in any
order) and report the first problem. The key comes from --key-file or GATEKEEPER_AUDIT_KEY.
With --head (the last MAC kept from an earlier verify, a collector or the shutdown log line),
records cut off the end are detected too.`
)

// auditCmd is `gatekeeper audit verify`: check a set of audit files
// offline and report the first edited, inserted, removed or reordered
// record, or the set's end before the last known head.
func auditCmd(args []string, sys IO) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(sys.Stderr, auditUsage)
		return ErrUsage
	}
	fs := flags("audit verify", "", sys)
	fs.Usage = func() {
		fmt.Fprintf(sys.Stderr, "%s\n\n%s\n\nFlags:\n", auditUsage, auditSummary)
		fs.PrintDefaults()
	}
	keyFile := fs.String("key-file", "", "file holding the audit key (default $GATEKEEPER_AUDIT_KEY)")
	head := fs.String("head", "", "the last known head MAC: the files must reach it")
	// Flags may come after the files too (verify audit*.jsonl --head X).
	var files []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return ErrHelp
			}
			return ErrUsage
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		files, rest = append(files, rest[0]), rest[1:]
	}
	if len(files) == 0 {
		fmt.Fprintln(sys.Stderr, "audit verify needs the audit files to check")
		fs.Usage()
		return ErrUsage
	}
	key, err := verifyKey(*keyFile, sys.Environ)
	if err != nil {
		return err
	}
	sum, err := audit.Verify(audit.VerifyOptions{Key: key, Head: strings.ToLower(strings.TrimSpace(*head))}, files)
	var p *audit.Problem
	if errors.As(err, &p) {
		fmt.Fprintf(sys.Stdout, "problem: %s\n", p)
		return errors.New("the audit files do not verify")
	}
	if err != nil {
		return fmt.Errorf("verifying the audit files: %w", err)
	}
	fmt.Fprintf(sys.Stdout, "ok: %d records in %d file(s), seq %d to %d\n", sum.Records, sum.Files, sum.FirstSeq, sum.LastSeq)
	switch {
	case *head == "":
		fmt.Fprintln(sys.Stdout, "note: without --head, records cut off the end cannot be detected; keep the head below")
	case sum.HeadSeq < sum.LastSeq:
		fmt.Fprintf(sys.Stdout, "the last known head is seq %d; %d record(s) were written after it\n", sum.HeadSeq, sum.LastSeq-sum.HeadSeq)
	}
	fmt.Fprintf(sys.Stdout, "head: %s\n", sum.Head)
	return nil
}

// verifyKey reads the key from the file, else from GATEKEEPER_AUDIT_KEY.
func verifyKey(file string, environ []string) (sensitive.String, error) {
	var text string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return sensitive.String{}, fmt.Errorf("reading the audit key: %w", err)
		}
		text = string(b)
	} else {
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, "GATEKEEPER_AUDIT_KEY="); ok {
				text = v
			}
		}
		if strings.TrimSpace(text) == "" {
			return sensitive.String{}, errors.New("audit verify needs the audit key: --key-file FILE or GATEKEEPER_AUDIT_KEY")
		}
	}
	return audit.ParseKey(text)
}
