package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// seqDigits pads the seq in rotated names so that names sort like seqs.
const seqDigits = 12

// RotatedName is the name the file at path gets when rotated, its first
// record being seq: audit.jsonl becomes audit.000000000001.jsonl.
func RotatedName(path string, seq uint64) string {
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s.%0*d%s", strings.TrimSuffix(path, ext), seqDigits, seq, ext)
}

// RotatedFile is one rotated file of a set.
type RotatedFile struct {
	Path     string
	FirstSeq uint64 // from its name
}

// Rotated lists the rotated files beside path, oldest first.
func Rotated(path string) ([]RotatedFile, error) {
	ext := filepath.Ext(path)
	stem := strings.TrimSuffix(path, ext)
	matches, err := filepath.Glob(globEscape(stem) + ".*" + globEscape(ext))
	if err != nil {
		return nil, fmt.Errorf("listing rotated audit files: %w", err)
	}
	var out []RotatedFile
	for _, m := range matches {
		mid := strings.TrimSuffix(strings.TrimPrefix(m, stem+"."), ext)
		if len(mid) < seqDigits || !allDigits([]byte(mid)) {
			continue
		}
		seq, err := strconv.ParseUint(mid, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, RotatedFile{Path: m, FirstSeq: seq})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FirstSeq < out[j].FirstSeq })
	return out, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// maxLine bounds one audit line when reading files back.
const maxLine = 1 << 20

var errTornLine = errors.New("the last line is incomplete (no newline: a write was cut short)")

// firstLine reads the first line of f, without its newline.
func firstLine(f io.ReaderAt) ([]byte, error) {
	buf := make([]byte, 0, 4096)
	chunk := make([]byte, 4096)
	for off := int64(0); len(buf) <= maxLine; {
		n, err := f.ReadAt(chunk, off)
		if i := bytes.IndexByte(chunk[:n], '\n'); i >= 0 {
			return append(buf, chunk[:i]...), nil
		}
		buf = append(buf, chunk[:n]...)
		off += int64(n)
		if err == io.EOF {
			return nil, errTornLine
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, errors.New("the first line is longer than 1 MiB")
}

// lastLine reads the last line of f (size bytes, ending in a newline)
// without reading the whole file.
func lastLine(f io.ReaderAt, size int64) ([]byte, error) {
	if size == 0 {
		return nil, errors.New("empty")
	}
	var nl [1]byte
	if _, err := f.ReadAt(nl[:], size-1); err != nil {
		return nil, err
	}
	if nl[0] != '\n' {
		return nil, errTornLine
	}
	end := size - 1
	var line []byte
	for start := end; start > 0; {
		n := min(int64(4096), start)
		start -= n
		chunk := make([]byte, n)
		if _, err := f.ReadAt(chunk, start); err != nil {
			return nil, err
		}
		line = append(chunk, line...)
		if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
			return line[i+1:], nil
		}
		if len(line) > maxLine {
			return nil, errors.New("the last line is longer than 1 MiB")
		}
	}
	return line, nil
}
