package audit

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// FileOptions configure a FileSink.
type FileOptions struct {
	// Path is the active file. Rotated files sit beside it, named by the
	// seq of their first record (RotatedName).
	Path string
	// MaxBytes rotates the active file before a line would take it past
	// this size. 0 never rotates. A line longer than MaxBytes still goes,
	// alone, into a fresh file. Old files are never deleted.
	MaxBytes int64
	// Key checks the record the chain continues from. Required: a file
	// sink holds a chain, and a chain needs a key.
	Key sensitive.String
}

// FileSink appends chained lines to a file and rotates it by size. Opened
// on an existing set, it reads the last record back (Head), checks its MAC,
// and the Log continues the chain from there, so a restart does not break
// it.
type FileSink struct {
	opts  FileOptions
	check *chain
	mu    sync.Mutex
	f     *os.File
	size  int64  // bytes of whole lines in f
	first uint64 // seq of f's first record; 0 while f is empty
	head  Head
	torn  bool // a failed write may have left part of a line in f
	buf   []byte
}

// NewFileSink opens (or creates, mode 0600) the file and finds the head of
// the chain it holds. A file whose last record is not a chained record
// that verifies under the key is refused: continuing it would hide what
// happened to it.
func NewFileSink(o FileOptions) (*FileSink, error) {
	if o.Key.IsZero() {
		return nil, fmt.Errorf("the audit file needs a key: %w", ErrKey)
	}
	if o.MaxBytes < 0 {
		return nil, errors.New("the audit file's maximum size must not be negative")
	}
	s := &FileSink{opts: o, check: newChain(o.Key, Head{})}
	f, err := os.OpenFile(o.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the audit file: %w", err)
	}
	if err := s.resume(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	s.f = f
	return s, nil
}

// resume reads the head of the chain from the active file or, if it is
// empty, from the newest rotated file.
func (s *FileSink) resume(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading the audit file: %w", err)
	}
	if info.IsDir() {
		return fmt.Errorf("the audit file %s is a directory", s.opts.Path)
	}
	s.size = info.Size()
	if s.size > 0 {
		first, err := firstLine(f)
		if err != nil {
			return fmt.Errorf("reading the audit file %s: %w", s.opts.Path, err)
		}
		r, err := ParseLine(first)
		if err != nil {
			return fmt.Errorf("the audit file %s does not start with a chained record (written before the chain, or damaged): move it aside to start a new chain", s.opts.Path)
		}
		s.first = r.Seq
		return s.resumeFrom(f, s.size, s.opts.Path)
	}
	rotated, err := Rotated(s.opts.Path)
	if err != nil {
		return err
	}
	if len(rotated) == 0 {
		return nil // a new chain
	}
	last := rotated[len(rotated)-1].Path
	rf, err := os.Open(last)
	if err != nil {
		return fmt.Errorf("reading the last rotated audit file: %w", err)
	}
	defer func() { _ = rf.Close() }()
	info, err = rf.Stat()
	if err != nil {
		return fmt.Errorf("reading the last rotated audit file: %w", err)
	}
	return s.resumeFrom(rf, info.Size(), last)
}

func (s *FileSink) resumeFrom(f *os.File, size int64, name string) error {
	line, err := lastLine(f, size)
	if err != nil {
		return fmt.Errorf("the audit file %s: %w (run gatekeeper audit verify on it)", name, err)
	}
	r, err := ParseLine(line)
	if err != nil {
		return fmt.Errorf("the audit file %s ends with a line that is not a chained record (written before the chain, or damaged): run gatekeeper audit verify, then move it aside to start a new chain", name)
	}
	if !s.check.check(r) {
		return fmt.Errorf("the last record of the audit file %s does not verify with the audit key (another key, or edited): run gatekeeper audit verify, then move the files aside to start a new chain", name)
	}
	s.head = Head{Seq: r.Seq, MAC: r.MAC}
	return nil
}

// Head is the last record the files held when the sink was opened.
func (s *FileSink) Head() Head { return s.head }

func (s *FileSink) Name() string { return "file" }

// Write appends line and a newline in one write. A write that fails is
// cut back off the file, so no torn line is ever followed by another.
func (s *FileSink) Write(line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("the audit file is closed")
	}
	if s.torn {
		if err := s.f.Truncate(s.size); err != nil {
			return fmt.Errorf("removing a partly written line from the audit file: %w", err)
		}
		s.torn = false
	}
	if s.opts.MaxBytes > 0 && s.size > 0 && s.size+int64(len(line))+1 > s.opts.MaxBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	s.buf = append(append(s.buf[:0], line...), '\n')
	n, err := s.f.Write(s.buf)
	if err != nil {
		if n > 0 {
			s.torn = s.f.Truncate(s.size) != nil
		}
		return fmt.Errorf("writing the audit file: %w", err)
	}
	if s.size == 0 {
		if r, err := ParseLine(line); err == nil {
			s.first = r.Seq
		}
	}
	s.size += int64(n)
	return nil
}

// rotate renames the active file to its rotated name and opens a new one.
func (s *FileSink) rotate() error {
	name := RotatedName(s.opts.Path, s.first)
	if _, err := os.Lstat(name); err == nil {
		return fmt.Errorf("rotating the audit file: %s already exists", name)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("rotating the audit file: %w", err)
	}
	if err := os.Rename(s.opts.Path, name); err != nil {
		return fmt.Errorf("rotating the audit file: %w", err)
	}
	f, err := os.OpenFile(s.opts.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		// Put the full file back so the set stays as it was.
		if rerr := os.Rename(name, s.opts.Path); rerr != nil {
			return fmt.Errorf("rotating the audit file: %w (and moving it back: %w)", err, rerr)
		}
		return fmt.Errorf("rotating the audit file: %w", err)
	}
	old := s.f
	s.f, s.size, s.first = f, 0, 0
	if err := old.Close(); err != nil {
		return fmt.Errorf("closing the rotated audit file: %w", err)
	}
	return nil
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
