package audit

import (
	"errors"
	"fmt"
	"io"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Kind names what a Problem is.
type Kind string

// Kinds of problems Verify reports.
const (
	// Malformed: a line that is not a chained record (garbage, a line
	// added without the chain fields, a write cut short).
	Malformed Kind = "malformed line"
	// Edited: a record whose MAC does not match its bytes, which the
	// chain still links to (its content changed) or does not explain as
	// an insertion (its MAC changed, or it was forged in place).
	Edited Kind = "edited record"
	// Inserted: a record that does not verify, with the chain going on
	// around it as if it were not there.
	Inserted Kind = "inserted record"
	// Removed: genuine records missing between two others, or a whole
	// rotated file missing between two files.
	Removed Kind = "removed records"
	// Reordered: a genuine record ahead of records that come later in
	// the set.
	Reordered Kind = "reordered records"
	// Replayed: a genuine record (or file) that appears a second time.
	Replayed Kind = "replayed record"
	// BrokenLink: a genuine record with the expected seq whose prev is
	// not the MAC of the record before it (two chains mixed).
	BrokenLink Kind = "broken link"
	// MidChain: the set does not start at the first record of the chain
	// (earlier files not given, or the first records removed).
	MidChain Kind = "starts mid-chain"
	// Truncated: the set ends before the last known head.
	Truncated Kind = "truncated"
	// WrongKey: no record verifies, yet they link to one another.
	WrongKey Kind = "wrong key"
)

// Problem is the first thing wrong with a set of audit files.
type Problem struct {
	Kind   Kind
	File   string
	Line   int    // 1-based
	Seq    uint64 // the seq the record claims; 0 if unknown
	Detail string
}

func (p *Problem) Error() string {
	where := fmt.Sprintf("%s:%d", p.File, p.Line)
	if p.Seq > 0 {
		where += fmt.Sprintf(" (seq %d)", p.Seq)
	}
	return fmt.Sprintf("%s: %s: %s", where, p.Kind, p.Detail)
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	Key sensitive.String // decoded (ParseKey)
	// Head is the last known head MAC (hex), kept outside the files: the
	// set must contain it, or records were cut off its end. "" skips the
	// check; truncation at the end then goes unseen.
	Head string
}

// Summary describes a set that verified.
type Summary struct {
	Files    int // files that held records
	Records  int
	FirstSeq uint64
	LastSeq  uint64
	Head     string // the last record's MAC
	// HeadSeq is the seq of the record whose MAC is opts.Head (0 when no
	// head was given); records after it were written since.
	HeadSeq uint64
}

// Verify checks a set of audit files: every MAC, every link from a record
// to the one before, and that seqs run from 1 without gaps across files,
// which it orders by their first record. It returns the first Problem
// found, or another error if a file cannot be read.
func Verify(opts VerifyOptions, paths []string) (Summary, error) {
	if opts.Key.IsZero() {
		return Summary{}, fmt.Errorf("verifying the audit files: %w", ErrKey)
	}
	if opts.Head != "" && (len(opts.Head) != macLen || !isHex([]byte(opts.Head))) {
		return Summary{}, errors.New("the head must be a MAC: 64 lower-case hex digits")
	}
	ch := newChain(opts.Key, Head{})
	files, err := orderFiles(paths, ch)
	if err != nil {
		return Summary{}, err
	}
	v := verifier{opts: opts, ch: ch, s: &stream{files: files}}
	defer v.s.close()
	return v.run()
}

type verifier struct {
	opts     VerifyOptions
	ch       *chain
	s        *stream
	sum      Summary
	expect   Head   // the last genuine record
	lastFile string // its file
}

func (v *verifier) run() (Summary, error) {
	var last *entry
	for {
		e, err := v.s.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Summary{}, err
		}
		if err := v.one(e); err != nil {
			return Summary{}, err
		}
		last = e
	}
	if last == nil {
		return Summary{}, errors.New("no audit records in the files given")
	}
	if v.opts.Head != "" && v.sum.HeadSeq == 0 {
		return Summary{}, &Problem{Kind: Truncated, File: last.file, Line: last.line, Seq: last.rec.Seq,
			Detail: "the set ends here without reaching the last known head: the records after it were removed (or the head belongs to another chain)"}
	}
	v.sum.LastSeq, v.sum.Head = v.expect.Seq, v.expect.MAC
	return v.sum, nil
}

func (v *verifier) problem(e *entry, k Kind, format string, args ...any) error {
	return &Problem{Kind: k, File: e.file, Line: e.line, Seq: e.rec.Seq, Detail: fmt.Sprintf(format, args...)}
}

// genuine reports whether e is a record whose MAC verifies.
func (v *verifier) genuine(e *entry) bool { return e != nil && e.err == nil && v.ch.check(e.rec) }

func (v *verifier) one(e *entry) error {
	if e.err != nil {
		if errors.Is(e.err, errTornLine) {
			return v.problem(e, Malformed, "%v", e.err)
		}
		return v.problem(e, Malformed, "not a chained audit record (seq, prev and mac missing or out of place)")
	}
	start := v.sum.Records == 0
	if !v.ch.check(e.rec) {
		return v.forged(e, start)
	}
	r := e.rec
	switch {
	case start && (r.Seq != 1 || r.Prev != Genesis):
		if next := v.s.peek(); v.genuine(next) && next.rec.Seq == 1 && next.rec.Prev == Genesis {
			return v.problem(e, Replayed, "a copy of the genuine record seq %d, placed before the first record", r.Seq)
		}
		return v.problem(e, MidChain, "the set starts at seq %d, not at the first record: give every file, oldest first (or its first records were removed)", r.Seq)
	case start:
	case r.Seq == v.expect.Seq+1 && r.Prev == v.expect.MAC:
	case r.Seq == v.expect.Seq+1:
		return v.problem(e, BrokenLink, "its prev is not the MAC of the record before it (seq %d): records of two chains are mixed", v.expect.Seq)
	case r.Seq > v.expect.Seq+1:
		return v.gap(e)
	default:
		return v.problem(e, Replayed, "seq %d was already recorded earlier in the set: this is a copy of a genuine record", r.Seq)
	}
	v.expect, v.lastFile = Head{Seq: r.Seq, MAC: r.MAC}, e.file
	if start {
		v.sum.FirstSeq = r.Seq
	}
	if e.opens {
		v.sum.Files++
	}
	v.sum.Records++
	if v.opts.Head != "" && r.MAC == v.opts.Head {
		v.sum.HeadSeq = r.Seq
	}
	return nil
}

// forged classifies a record whose MAC does not verify, by how the next
// line relates to it.
func (v *verifier) forged(e *entry, start bool) error {
	next := v.s.peek()
	nextOK := v.genuine(next)
	switch {
	case start && next != nil && next.err == nil && !nextOK && next.rec.Prev == e.rec.MAC && next.rec.Seq == e.rec.Seq+1:
		return v.problem(e, WrongKey, "neither this record nor the next verifies, though they link to one another: the key is not the one the files were written with (or every record was rewritten)")
	case next != nil && next.err == nil && next.rec.Prev == e.rec.MAC:
		return v.problem(e, Edited, "its MAC does not match its content, and the next record still links to it: the content was changed after it was written")
	case nextOK && !start && next.rec.Seq == v.expect.Seq+1 && next.rec.Prev == v.expect.MAC,
		nextOK && start && next.rec.Seq == 1 && next.rec.Prev == Genesis:
		return v.problem(e, Inserted, "its MAC is not valid and the chain goes on around it: this record was never written by Gatekeeper")
	}
	return v.problem(e, Edited, "its MAC does not match its content: the record or its MAC was changed, or it was forged")
}

// gap classifies missing seqs: if any of them turns up later in the set,
// records were reordered; otherwise they were removed.
func (v *verifier) gap(e *entry) error {
	from, to := v.expect.Seq+1, e.rec.Seq-1
	missing := fmt.Sprintf("seq %d", from)
	if to > from {
		missing = fmt.Sprintf("seqs %d to %d", from, to)
	}
	for {
		later, err := v.s.next()
		if err != nil {
			break
		}
		if v.genuine(later) && later.rec.Seq >= from && later.rec.Seq <= to {
			return v.problem(e, Reordered, "it comes before seq %d (%s:%d): records are out of order", later.rec.Seq, later.file, later.line)
		}
	}
	if e.opens && e.file != v.lastFile {
		return v.problem(e, Removed, "%s are missing between the end of %s and this file: a whole rotated file (or the end of that one) was removed, or not given", missing, v.lastFile)
	}
	return v.problem(e, Removed, "%s are missing before this record: they were removed", missing)
}
