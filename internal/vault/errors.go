package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// Sentinels for what Vault answered. Callers match them with errors.Is.
var (
	ErrNotFound         = errors.New("not found")
	ErrPermissionDenied = errors.New("permission denied")
	ErrSealed           = errors.New("vault is sealed")
	ErrUnavailable      = errors.New("vault is unavailable")
	ErrUnreachable      = errors.New("vault is unreachable")
	ErrInvalidRequest   = errors.New("vault rejected the request")
	ErrRateLimited      = errors.New("vault rate limit reached")
)

// Refinements of the sentinels above. Each is also its class: a deleted
// version is ErrNotFound to a caller that does not care why, and ErrDeleted
// to one that wants to tell the agent it can be undeleted.
var (
	// ErrDeleted is a KV version that was soft-deleted; undelete brings it
	// back. Class ErrNotFound.
	ErrDeleted error = &refined{"version is deleted", ErrNotFound}
	// ErrDestroyed is a KV version whose data is gone for good. Class
	// ErrNotFound.
	ErrDestroyed error = &refined{"version is destroyed", ErrNotFound}
	// ErrCASRequired is a KV write or patch without a cas on a secret or
	// mount that demands one. Class ErrInvalidRequest: the request lacks
	// something.
	ErrCASRequired error = &refined{"check-and-set version required", ErrInvalidRequest}
	// ErrCiphertextInvalid is a ciphertext or signature that the transit key
	// cannot use: made with another key, damaged, or not Vault's format.
	// Class ErrInvalidRequest.
	ErrCiphertextInvalid error = &refined{"ciphertext or signature is invalid for this key", ErrInvalidRequest}
)

// ErrCASMismatch is a KV write or patch whose cas is not the current
// version: someone else wrote first. It has no class: unlike an invalid
// request, the same call can succeed after reading the current version.
var ErrCASMismatch = errors.New("check-and-set version does not match the current version")

// refined is a sentinel that errors.Is also matches as its class.
type refined struct {
	msg   string
	class error
}

func (r *refined) Error() string { return r.msg }
func (r *refined) Unwrap() error { return r.class }

// Error is a classified Vault error. Its message names the operation and
// path, never a value or token; Detail keeps Vault's own words for the debug
// log.
type Error struct {
	Kind   error
	Op     string
	Path   string
	Detail string
	// Version and DeletedAt describe a KV version that is ErrDeleted or
	// ErrDestroyed; DeletedAt is zero for a destroyed version that was never
	// soft-deleted.
	Version   int64
	DeletedAt time.Time
	cause     error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Kind)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.cause} }

// SafeDetail is the classification alone, for the audit log.
func (e *Error) SafeDetail() string { return e.Op + ": " + e.Kind.Error() }

// classify maps an API client error to a sentinel. body is the decoded body
// of a 404, if it had one: KV v2 answers a read or patch of a deleted or
// destroyed version with 404 and the version's metadata.
func classify(op, path string, err error, body *Secret) error {
	e := &Error{Op: op, Path: path, cause: err}
	var re *api.ResponseError
	switch {
	case errors.As(err, &re):
		e.Detail = strings.Join(re.Errors, "; ")
		e.Kind = kindOf(re)
		if re.StatusCode == http.StatusNotFound {
			if meta := versionMetadata(body); meta != nil {
				gone(e, meta)
			}
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.Kind = err
		e.cause = nil
	default:
		// Anything without an HTTP response: refused connection, DNS, TLS.
		e.Kind = ErrUnreachable
	}
	return e
}

// versionMetadata finds a KV version's metadata in the body of a 404: a read
// sends it as data.metadata, a patch as data itself.
func versionMetadata(body *Secret) map[string]any {
	if body == nil {
		return nil
	}
	if meta, ok := body.Data["metadata"].(map[string]any); ok {
		return meta
	}
	if _, ok := body.Data["deletion_time"]; ok {
		return body.Data
	}
	return nil
}

// gone refines e from a KV version's metadata: destroyed, deleted, or (with
// neither) not found. Vault sends metadata for a version it still knows.
func gone(e *Error, meta map[string]any) {
	e.Version = Int64(meta["version"])
	e.DeletedAt = timeOf(meta["deletion_time"])
	switch {
	case meta["destroyed"] == true:
		e.Kind = ErrDestroyed
		e.Detail = fmt.Sprintf("version %d destroyed", e.Version)
	case !e.DeletedAt.IsZero():
		e.Kind = ErrDeleted
		e.Detail = fmt.Sprintf("version %d deleted at %s", e.Version, e.DeletedAt.Format(time.RFC3339))
	default:
		e.Kind = ErrNotFound
	}
}

func kindOf(re *api.ResponseError) error {
	switch re.StatusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusForbidden, http.StatusUnauthorized:
		return ErrPermissionDenied
	case http.StatusTooManyRequests:
		return ErrRateLimited
	case http.StatusServiceUnavailable:
		if anyContains(re.Errors, "sealed") {
			return ErrSealed
		}
		return ErrUnavailable
	case http.StatusBadRequest:
		return badRequest(re.Errors)
	}
	if re.StatusCode >= 500 {
		return ErrUnavailable
	}
	return ErrInvalidRequest
}

// badRequest tells Vault's 400s apart by their words, which OpenBao shares
// (same KV v2 and transit code):
//
//	check-and-set parameter did not match the current version
//	check-and-set parameter required for this call
//	encryption key not found / signing key not found /
//	  signature verification key not found           (transit, no such key)
//	cipher: message authentication failed            (another key's ciphertext)
//	invalid ciphertext: no prefix / could not decode base64 / version is too new
//	invalid signature: no prefix / version is too new
//	supplied signature is invalid                    (ecdsa: not DER)
//	ciphertext or signature version is disallowed by policy (too old)
func badRequest(msgs []string) error {
	switch {
	case anyContains(msgs, "check-and-set parameter did not match"):
		return ErrCASMismatch
	case anyContains(msgs, "check-and-set parameter required"):
		return ErrCASRequired
	case anyContains(msgs, "key not found"):
		return ErrNotFound
	case anyContains(msgs, "invalid ciphertext"),
		anyContains(msgs, "invalid signature"),
		anyContains(msgs, "supplied signature is invalid"),
		anyContains(msgs, "message authentication failed"),
		anyContains(msgs, "disallowed by policy"):
		return ErrCiphertextInvalid
	}
	return ErrInvalidRequest
}

func anyContains(msgs []string, sub string) bool {
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}
