package mcptools

import (
	"fmt"
	"slices"
)

// toolScopes is the scope a credential needs for each tool. "" means any
// scope that opens a tool: every credential that can do something may ask
// for access, see its status and give access up.
//
//	scope    tools
//	read     read_secret, secret_metadata, http_request (for an agent
//	         with at least one allowed destination), issue_credential,
//	         list_credentials, revoke_credential (for an agent with at
//	         least one configured credential)
//	list     list_secrets
//	write    escalate, write_secret, patch_secret, release
//	delete   delete_secret, undelete_secret, destroy_secret
//	transit  encrypt, decrypt, rewrap, sign, verify
//	(any)    authenticate, token_status, logout, whoami (REST only)
//
// run_with_secret exists only over stdio, where there are no scopes.
var toolScopes = map[string]string{
	"authenticate":      "",
	"token_status":      "",
	"logout":            "",
	"whoami":            "",
	"read_secret":       "read",
	"secret_metadata":   "read",
	"http_request":      "read",
	"issue_credential":  "read",
	"list_credentials":  "read",
	"revoke_credential": "read",
	"list_secrets":      "list",
	"escalate":          "write",
	"write_secret":      "write",
	"patch_secret":      "write",
	"release":           "write",
	"delete_secret":     "delete",
	"undelete_secret":   "delete",
	"destroy_secret":    "delete",
	"encrypt":           "transit",
	"decrypt":           "transit",
	"rewrap":            "transit",
	"sign":              "transit",
	"verify":            "transit",
}

// Allowed reports whether a credential with scopes may use tool. A
// credential without a scope that opens some tool sees nothing at all.
func Allowed(tool string, scopes []string) bool {
	need, known := toolScopes[tool]
	if !known {
		return false
	}
	if need != "" {
		return slices.Contains(scopes, need)
	}
	for _, s := range toolScopes {
		if s != "" && slices.Contains(scopes, s) {
			return true
		}
	}
	return false
}

// ToolsFor returns the Include filter for a credential's scopes.
func ToolsFor(scopes []string) func(tool string) bool {
	return func(tool string) bool { return Allowed(tool, scopes) }
}

// scopeError refuses a tool outside the credential's scopes, naming the
// scope the tool needs ("" any scope that opens some tool).
type scopeError struct{ tool, need string }

func (e *scopeError) Error() string { return e.tool + " needs scope " + e.need }
func (e *scopeError) Unwrap() error { return errNotAllowed }

// message is what the agent reads: which scope, and what to do instead.
func (e *scopeError) message() string {
	if _, known := toolScopes[e.tool]; !known {
		return "This tool is not available to your credential."
	}
	if e.need == "" {
		return fmt.Sprintf("%s needs a credential with at least one scope (read, list, write, delete or transit), and yours has none: "+
			"nothing was done. Ask the operator for a credential with the scopes your task needs.", e.tool)
	}
	return fmt.Sprintf("%s needs the %q scope, which your credential does not carry: nothing was done. "+
		"Use the tools you are offered, or ask the operator for a credential with the %q scope.", e.tool, e.need, e.need)
}
