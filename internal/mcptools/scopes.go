package mcptools

import "slices"

// toolScopes is the scope a credential needs for each tool. "" means any
// scope that opens a tool: every credential that can do something may ask
// for access, see its status and give access up.
//
//	scope   tools
//	read    read_secret
//	list    list_secrets
//	write   escalate, write_secret, release
//	(any)   authenticate, token_status, logout
var toolScopes = map[string]string{
	"authenticate": "",
	"token_status": "",
	"logout":       "",
	"read_secret":  "read",
	"list_secrets": "list",
	"escalate":     "write",
	"write_secret": "write",
	"release":      "write",
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
