package passkey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrUnknownCredential is returned by a CredentialStore for a credential id
// it does not hold.
var ErrUnknownCredential = errors.New("unknown credential")

// ErrDuplicateCredential is returned by CredentialStore.Add for a credential
// id it already holds.
var ErrDuplicateCredential = errors.New("credential already registered")

// Credential is one registered passkey or security key: what is needed to
// verify its assertions, and what the operator named it.
type Credential struct {
	ID        []byte    `json:"id"`
	PublicKey []byte    `json:"public_key"` // COSE key, as the authenticator sent it
	SignCount uint32    `json:"sign_count"`
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`

	// The authenticator's backup-eligible flag never changes for a
	// credential; the library refuses an assertion whose flag differs.
	BackupEligible bool     `json:"backup_eligible"`
	BackupState    bool     `json:"backup_state"`
	AAGUID         []byte   `json:"aaguid,omitempty"`
	Transports     []string `json:"transports,omitempty"`
	// AttestationFormat is kept for a later audit of which authenticator
	// models are registered; registration asks for no attestation.
	AttestationFormat string `json:"attestation_format,omitempty"`
	// EnrollToken is the SHA-256 (hex) of the enroll token that registered
	// this credential: a token that registered a credential is spent, also
	// after a restart.
	EnrollToken string `json:"enroll_token_sha256,omitempty"`
}

// CredentialStore holds the registered credentials. Implementations must be
// safe for concurrent use.
type CredentialStore interface {
	Credentials(ctx context.Context) ([]Credential, error)
	Add(ctx context.Context, c Credential) error
	// SetSignCount records the counter of the credential's latest
	// accepted assertion.
	SetSignCount(ctx context.Context, id []byte, count uint32) error
}

// FileStore is a CredentialStore in one JSON file, written with mode 0600
// through a temporary file and a rename, so a crash leaves either the old
// or the new file, never half of one. It reads the file on every call: an
// operator removes a lost key by deleting its entry, without a restart.
type FileStore struct {
	path string
	mu   sync.Mutex
}

// fileFormat is the file's content; the version allows a later migration.
type fileFormat struct {
	Version     int          `json:"version"`
	Credentials []Credential `json:"credentials"`
}

// NewFileStore returns a store kept in path. The file need not exist yet;
// an existing one must parse.
func NewFileStore(path string) (*FileStore, error) {
	if path == "" {
		return nil, errors.New("passkey: credential file path is required")
	}
	s := &FileStore{path: path}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Credentials returns every registered credential.
func (s *FileStore) Credentials(context.Context) ([]Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	return f.Credentials, err
}

// Add registers c.
func (s *FileStore) Add(_ context.Context, c Credential) error {
	if len(c.ID) == 0 || len(c.PublicKey) == 0 {
		return errors.New("adding a credential: id and public key are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return err
	}
	for _, have := range f.Credentials {
		if bytes.Equal(have.ID, c.ID) {
			return fmt.Errorf("adding credential %q: %w", c.Name, ErrDuplicateCredential)
		}
	}
	f.Credentials = append(f.Credentials, c)
	return s.save(f)
}

// SetSignCount records count for the credential id.
func (s *FileStore) SetSignCount(_ context.Context, id []byte, count uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return err
	}
	for i := range f.Credentials {
		if bytes.Equal(f.Credentials[i].ID, id) {
			f.Credentials[i].SignCount = count
			return s.save(f)
		}
	}
	return fmt.Errorf("updating a sign count: %w", ErrUnknownCredential)
}

func (s *FileStore) load() (fileFormat, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileFormat{Version: 1}, nil
	}
	if err != nil {
		return fileFormat{}, fmt.Errorf("reading %s: %w", s.path, err)
	}
	var f fileFormat
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fileFormat{}, fmt.Errorf("parsing %s: %w", s.path, err)
	}
	if dec.More() {
		return fileFormat{}, fmt.Errorf("parsing %s: trailing data after the JSON object", s.path)
	}
	if f.Version != 1 {
		return fileFormat{}, fmt.Errorf("parsing %s: unsupported version %d", s.path, f.Version)
	}
	return f, nil
}

// save replaces the file atomically: write a temporary file in the same
// directory, sync it, rename it over the old one, sync the directory.
func (s *FileStore) save(f fileFormat) (err error) {
	f.Version = 1
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding credentials: %w", err)
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; Chmod makes it independent of that.
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if _, err = tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err = os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("replacing %s: %w", s.path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
