package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// entry is one line of a set of audit files, in chain order.
type entry struct {
	file  string
	line  int
	rec   Record
	err   error // the line is not a chained record
	opens bool  // first line of its file
}

// setFile is one file of a set and where it sits in the chain.
type setFile struct {
	path  string
	first uint64
}

// orderFiles sorts files by the seq of their first genuine record (one
// whose MAC verifies), so that a forged or edited line cannot move a file
// out of its place; a file without one goes by the first seq any of its
// lines claims. Empty files are skipped. A file with no record at all, or
// two files starting at the same seq, is a Problem: the set cannot be put
// in order.
func orderFiles(paths []string, ch *chain) ([]setFile, error) {
	var out []setFile
	for _, p := range paths {
		first, err := fileSeq(p, ch)
		if err != nil {
			return nil, err
		}
		if first > 0 {
			out = append(out, setFile{path: p, first: first})
		}
	}
	slices.SortStableFunc(out, func(a, b setFile) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	for i := 1; i < len(out); i++ {
		if out[i].first == out[i-1].first {
			return nil, &Problem{Kind: Replayed, File: out[i].path, Line: 1, Seq: out[i].first,
				Detail: fmt.Sprintf("%s also starts at seq %d: a copy of a file, or files from two chains", out[i-1].path, out[i].first)}
		}
	}
	return out, nil
}

// fileSeq finds where a file sits in the chain: 0 for an empty file.
func fileSeq(path string, ch *chain) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("opening %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	r := bufio.NewReaderSize(f, 64<<10)
	var claimed uint64
	n := 0
	for ; ; n++ {
		b, err := readLine(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, errTornLine) {
			return 0, fmt.Errorf("reading %s: %w", path, err)
		}
		rec, perr := ParseLine(b)
		if perr != nil {
			continue
		}
		if ch.check(rec) {
			return rec.Seq, nil
		}
		if claimed == 0 {
			claimed = rec.Seq
		}
	}
	if n > 0 && claimed == 0 {
		return 0, &Problem{Kind: Malformed, File: path, Line: 1, Detail: "no line of this file is a chained audit record"}
	}
	return claimed, nil
}

// stream reads the lines of ordered files one after the other, with one
// line of look-ahead.
type stream struct {
	files  []setFile
	idx    int
	f      *os.File
	r      *bufio.Reader
	line   int
	peeked *entry
}

func (s *stream) close() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}

// next returns the next line, or io.EOF after the last.
func (s *stream) next() (*entry, error) {
	if e := s.peeked; e != nil {
		s.peeked = nil
		return e, nil
	}
	return s.read()
}

// peek returns the line next would return, or nil at the end or on a read
// error (which next reports).
func (s *stream) peek() *entry {
	if s.peeked == nil {
		e, err := s.read()
		if err != nil {
			return nil
		}
		s.peeked = e
	}
	return s.peeked
}

func (s *stream) read() (*entry, error) {
	for {
		if s.r == nil {
			if s.idx == len(s.files) {
				return nil, io.EOF
			}
			f, err := os.Open(s.files[s.idx].path)
			if err != nil {
				return nil, fmt.Errorf("opening %s: %w", s.files[s.idx].path, err)
			}
			s.f, s.r, s.line = f, bufio.NewReaderSize(f, 64<<10), 0
		}
		b, err := readLine(s.r)
		if errors.Is(err, io.EOF) {
			s.close()
			s.r = nil
			s.idx++
			continue
		}
		s.line++
		e := &entry{file: s.files[s.idx].path, line: s.line, opens: s.line == 1}
		switch {
		case errors.Is(err, errTornLine):
			e.err = err
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", e.file, err)
		default:
			e.rec, e.err = ParseLine(b)
		}
		return e, nil
	}
}

// readLine reads one line without its newline: io.EOF at the end,
// errTornLine for a last line without one.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(line) > maxLine {
				return nil, errors.New("a line is longer than 1 MiB")
			}
		case err == io.EOF && len(line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return line, errTornLine
		default:
			return nil, err
		}
	}
}
