package mcptools

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/credential"
	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// agentMessage is the one place where an error becomes what the model reads:
// a safe message that says what to do next, and the audit outcome. Internal
// detail (Vault's words, paths of Gatekeeper's own material) stays in the
// debug log under the same correlation id.
func agentMessage(err error) (string, audit.Outcome) {
	var bad *badInput
	var limited *access.RateLimitedError
	var link *approvalLink
	var scope *scopeError
	switch {
	case errors.As(err, &link):
		return link.message(), audit.Refused
	case errors.As(err, &scope):
		return scope.message(), audit.Refused
	case errors.As(err, &bad):
		return "Invalid input: " + bad.msg + ".", audit.Refused
	case errors.Is(err, secretuse.ErrInvalid):
		return "Invalid input: " + err.Error() + ".", audit.Refused
	case errors.Is(err, paths.ErrInvalid):
		return err.Error() + ". Paths are relative to your secrets folder, like \"db/postgres\".", audit.Refused
	case errors.Is(err, secretuse.ErrNoField), errors.Is(err, secretuse.ErrTooShort), errors.Is(err, secretuse.ErrTooMany), errors.Is(err, secretuse.ErrUnsafeValue):
		// Their messages name the path and field, never the value.
		return "Cannot use that secret: " + detail(err) + ".", audit.Refused
	case errors.Is(err, egress.ErrRedirect):
		return "The destination redirected where Gatekeeper does not follow, so nothing it sent is returned: " + detail(err) + ".", audit.Refused
	case errors.Is(err, egress.ErrNotAllowed):
		return "That request is not allowed: " + detail(err) + ". Ask the operator if you need another destination.", audit.Refused
	case errors.Is(err, egress.ErrInvalidURL), errors.Is(err, egress.ErrInvalidHeader):
		return "Invalid input: " + err.Error() + ".", audit.Refused
	case errors.Is(err, egress.ErrBlockedAddress):
		return "That request is not allowed: " + detail(err) + ". Nothing was sent.", audit.Refused
	case errors.Is(err, egress.ErrTooLarge):
		return "Refused: " + detail(err) + "; none of it is returned.", audit.Refused
	case errors.Is(err, egress.ErrTimeout), errors.Is(err, egress.ErrUnreachable):
		return "The request failed: " + detail(err) + ". Nothing from it is returned.", audit.Failed
	case errors.Is(err, credential.ErrUnknown):
		return "There is no credential of that name for you: " + detail(err) + ".", audit.Refused
	case errors.Is(err, credential.ErrName), errors.Is(err, credential.ErrPublicKey), errors.Is(err, credential.ErrWrongInput):
		return "Invalid input: " + detail(err) + ".", audit.Refused
	case errors.Is(err, secretuse.ErrNoCredential):
		return "You hold no live credential of that name: call issue_credential first, then use it. " + detail(err) + ".", audit.Refused
	case errors.Is(err, credential.ErrGrantEnding):
		return "Your access ends too soon for a credential (" + detail(err) + "): get it renewed first (authenticate, or escalate for write), then try again.", audit.Refused
	case errors.Is(err, credential.ErrTooLong):
		return "Vault issued a credential that would outlive your access, so Gatekeeper gave it back. Tell the operator: the role's TTL must fit within the grant.", audit.Failed
	case errors.Is(err, errNotAllowed):
		return "This tool is not available to your credential.", audit.Refused
	case errors.As(err, &limited) && limited.Cooldown:
		return fmt.Sprintf("The human denied the last request, so Gatekeeper will not ask them again for %d seconds. Do not retry; ask the human what they want instead.", int(math.Ceil(limited.RetryAfter.Seconds()))), audit.Refused
	case errors.As(err, &limited):
		return fmt.Sprintf("Too many %s. Retry after %d seconds.", limited.What, int(math.Ceil(limited.RetryAfter.Seconds()))), audit.Refused
	case errors.Is(err, access.ErrHiddenText):
		return "Invalid input: " + detail(err) + ". The human must see exactly what you ask; nothing was asked.", audit.Refused
	case errors.Is(err, access.ErrReasonRequired):
		return "escalate needs a reason: say what you will write and why. The human sees it.", audit.Refused

	case errors.Is(err, access.ErrPasscodeRefused):
		return "Gatekeeper does not take approval codes from you: the human answers on Gatekeeper's approval page, never in this chat. Nothing was sent to Vault. Call the tool again without passcode.", audit.Refused
	case errors.Is(err, access.ErrPasscodeMalformed):
		return "That passcode cannot be right: an authenticator shows 6 to 10 digits and nothing else. Nothing was sent to Vault and no approval was asked. Pass the human's current code exactly as their app shows it, or call the tool again without passcode to let them answer on Gatekeeper's approval page.", audit.Refused
	case errors.Is(err, access.ErrPasscodeRequired):
		return "This approval needs the human's code, which Gatekeeper takes only on its approval page; none could be opened. Tell the operator.", audit.Failed
	case errors.Is(err, access.ErrWrongPasscode):
		return "The human's code was not accepted (wrong, or already used), so no access was granted. Ask the human whether to try again.", audit.Denied
	case errors.Is(err, access.ErrOperatorDenied):
		return "An operator denied the approval on Gatekeeper's status page. No access was granted, and the access you already held stays. Do not retry; ask the human what they want instead.", audit.Denied
	case errors.Is(err, access.ErrDenied):
		return "The human denied the approval. No access was granted. Ask the human what they want before trying again.", audit.Denied
	case errors.Is(err, access.ErrApprovalTimeout):
		return "Nobody approved in time. No access was granted. Ask the human to be ready, then try again.", audit.TimedOut
	case errors.Is(err, access.ErrRevoked) && errors.Is(err, access.ErrWriteRequired):
		return "An operator revoked your write access. Do not retry on your own: ask the human whether you should write at all. Call escalate, with a reason they will see, only if they say so.", audit.Refused
	case errors.Is(err, access.ErrRevoked):
		return "An operator revoked your access to secrets. Do not retry on your own: ask the human why. Call authenticate only if they want you to have access again; they answer on Gatekeeper's approval page.", audit.Refused
	case errors.Is(err, access.ErrNotAuthenticated):
		return "You have no read access. Call authenticate to ask the human for it; they answer on Gatekeeper's approval page.", audit.Refused
	case errors.Is(err, access.ErrOncePending):
		return "Another destroy is waiting for the human's approval. Wait for it to finish, then try again.", audit.Refused
	case errors.Is(err, access.ErrPathNotGranted):
		return "Your write access covers other paths only (see token_status). Call escalate with this path in paths, and a reason.", audit.Refused
	case errors.Is(err, access.ErrWriteRequired):
		return "Writing needs write access, which you do not have now. Call escalate with a reason the human will see, then retry the write.", audit.Refused
	case errors.Is(err, access.ErrGrantLost):
		return "Your access was revoked outside Gatekeeper. Call authenticate to ask the human again.", audit.Refused
	case errors.Is(err, audit.ErrUnavailable):
		return "Gatekeeper cannot write its audit log, so it does nothing it cannot record: no access was granted and nothing was read or changed. Tell the operator.", audit.Failed
	case errors.Is(err, access.ErrClosed):
		return "Gatekeeper is shutting down; no access can be granted.", audit.Failed
	case errors.Is(err, access.ErrBrokerCredential):
		return "Gatekeeper's own Vault credential was refused, so no access can be granted. Tell the operator: run gatekeeper setup and give Gatekeeper the new bootstrap token.", audit.Failed
	case errors.Is(err, access.ErrTokenTooLong), errors.Is(err, access.ErrMisconfigured):
		return "Gatekeeper refused the token Vault issued because Vault is not set up as required. No access was granted. Tell the operator to run gatekeeper setup.", audit.Failed

	case errors.Is(err, vault.ErrCASMismatch):
		return "The secret's current version is not the cas you gave: someone changed it. Read it again (read_secret or secret_metadata), then retry with the current version as cas.", audit.Failed
	case errors.Is(err, vault.ErrCASRequired):
		return "This secret requires check-and-set: read its current version (secret_metadata) and pass it as cas.", audit.Failed
	case errors.Is(err, vault.ErrDeleted):
		return "That version is deleted (recoverable): undelete_secret can bring it back, or read another version (see secret_metadata).", audit.Failed
	case errors.Is(err, vault.ErrDestroyed):
		return "That version was destroyed permanently and cannot be read; read another version (see secret_metadata).", audit.Failed
	case errors.Is(err, vault.ErrCiphertextInvalid):
		return "That ciphertext or signature does not belong to this key (or is damaged). Use the key it was made with; another agent's ciphertexts cannot be decrypted with yours.", audit.Failed
	case errors.Is(err, vault.ErrNotFound):
		return "Nothing at that path (or no such version or key). Use list_secrets or secret_metadata to see what exists.", audit.Failed
	case errors.Is(err, vault.ErrPermissionDenied):
		return "Vault refused this operation for your current access.", audit.Denied
	case errors.Is(err, vault.ErrSealed):
		return "Vault is sealed: nothing can be read or written until an operator unseals it.", audit.Failed
	case errors.Is(err, access.ErrStateUnavailable):
		return "Gatekeeper cannot reach the access state its replicas share in Vault, so it grants and uses no access now. Try again in a minute; if it persists, tell the operator.", audit.Failed
	case errors.Is(err, vault.ErrUnreachable), errors.Is(err, vault.ErrUnavailable), errors.Is(err, vault.ErrRateLimited):
		return "Vault is not answering right now. Try again in a minute; if it persists, tell the operator.", audit.Failed
	case errors.Is(err, context.Canceled):
		return "The call was cancelled.", audit.Failed
	case errors.Is(err, context.DeadlineExceeded):
		return "Vault did not answer in time. Try again in a minute.", audit.Failed
	}
	return "Gatekeeper could not complete the call.", audit.Failed
}

// auditDetail is what the audit trail says of an error: the agent's
// message, but never an approval page's link (a capability to answer).
func auditDetail(err error, msg string) string {
	var link *approvalLink
	if errors.As(err, &link) {
		return "approval pending on its page; the link was given to the agent"
	}
	return msg
}

// message tells the agent to pass the link on and what to call next.
func (l *approvalLink) message() string {
	next := "Once they have answered, call authenticate (it waits for their answer) or retry your call."
	if l.tier == access.Write {
		next = "Then call escalate again with the same reason and paths: it waits for their answer."
	}
	return fmt.Sprintf("The human must approve %s access on Gatekeeper's approval page. Give them this link and ask them "+
		"to open it and answer there (never ask them for a code in this chat): %s (open until %s). %s",
		l.tier, l.url, l.expires.UTC().Format("15:04:05 UTC"), next)
}

// detail is an error's message without its class prefix: the packages
// whose sentinels lead a message this way (secretuse, egress) write the
// rest for the agent, naming what was wrong and never a value.
func detail(err error) string {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, ": "); ok {
		return rest
	}
	return msg
}

// classify is the edge where an error meets HTTP: the status a front door
// other than MCP answers with, next to the message agentMessage gives. The
// access a refused call lacks and the approval page to relay go with a
// 403, when to retry with a 429.
func classify(err error, id string) *CallError {
	msg, _ := agentMessage(err)
	e := &CallError{Status: http.StatusInternalServerError, Message: msg + " (ref " + id + ")", CorrelationID: id, err: err}
	var bad *badInput
	var limited *access.RateLimitedError
	var link *approvalLink
	switch {
	case errors.As(err, &link):
		e.Status, e.Tier, e.ApprovalURL = http.StatusForbidden, link.tier.String(), link.url
	case errors.As(err, &limited):
		e.Status, e.RetryAfter = http.StatusTooManyRequests, limited.RetryAfter
	case errors.As(err, &bad), errors.Is(err, secretuse.ErrInvalid), errors.Is(err, paths.ErrInvalid),
		errors.Is(err, secretuse.ErrNoField), errors.Is(err, secretuse.ErrTooShort), errors.Is(err, secretuse.ErrTooMany),
		errors.Is(err, secretuse.ErrUnsafeValue), errors.Is(err, egress.ErrInvalidURL), errors.Is(err, egress.ErrInvalidHeader),
		errors.Is(err, credential.ErrName), errors.Is(err, credential.ErrPublicKey), errors.Is(err, credential.ErrWrongInput),
		errors.Is(err, access.ErrReasonRequired), errors.Is(err, access.ErrPasscodeRefused), errors.Is(err, access.ErrPasscodeMalformed),
		errors.Is(err, vault.ErrCiphertextInvalid):
		e.Status = http.StatusBadRequest
	case errors.Is(err, access.ErrNotAuthenticated), errors.Is(err, access.ErrGrantLost):
		e.Status, e.Tier = http.StatusForbidden, access.Read.String()
	case errors.Is(err, access.ErrWriteRequired), errors.Is(err, access.ErrPathNotGranted):
		e.Status, e.Tier = http.StatusForbidden, access.Write.String()
	case errors.Is(err, errNotAllowed), errors.Is(err, access.ErrDenied), errors.Is(err, access.ErrApprovalTimeout),
		errors.Is(err, vault.ErrPermissionDenied), errors.Is(err, egress.ErrNotAllowed), errors.Is(err, egress.ErrRedirect),
		errors.Is(err, egress.ErrBlockedAddress):
		e.Status = http.StatusForbidden
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, credential.ErrUnknown):
		e.Status = http.StatusNotFound
	case errors.Is(err, vault.ErrDeleted), errors.Is(err, vault.ErrDestroyed):
		e.Status = http.StatusGone
	case errors.Is(err, vault.ErrCASMismatch), errors.Is(err, vault.ErrCASRequired), errors.Is(err, access.ErrOncePending),
		errors.Is(err, secretuse.ErrNoCredential), errors.Is(err, credential.ErrGrantEnding):
		e.Status = http.StatusConflict
	case errors.Is(err, audit.ErrUnavailable), errors.Is(err, access.ErrClosed), errors.Is(err, access.ErrBrokerCredential),
		errors.Is(err, access.ErrStateUnavailable), errors.Is(err, vault.ErrSealed), errors.Is(err, vault.ErrUnreachable),
		errors.Is(err, vault.ErrUnavailable), errors.Is(err, vault.ErrRateLimited):
		e.Status = http.StatusServiceUnavailable
	case errors.Is(err, egress.ErrTooLarge), errors.Is(err, egress.ErrUnreachable):
		e.Status = http.StatusBadGateway
	case errors.Is(err, egress.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		e.Status = http.StatusGatewayTimeout
	}
	return e
}
