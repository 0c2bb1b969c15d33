package vault

import "github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"

// Account is a tier's userpass login as setup keeps it in KV: the auth
// mount, the user and its password. Setup writes it (Data), the approver
// and doctor read it (AccountFrom).
type Account struct {
	Mount    string
	Username string
	Password sensitive.String
}

// AccountFrom reads an Account from a KV secret's data; ok is false when
// a field is missing or empty (setup did not finish it).
func AccountFrom(data map[string]any) (a Account, ok bool) {
	mount, _ := data["mount"].(string)
	user, _ := data["username"].(string)
	pw, _ := data["password"].(string)
	a = Account{Mount: mount, Username: user, Password: sensitive.New(pw)}
	return a, mount != "" && user != "" && pw != ""
}

// Data is a as setup writes it to KV.
func (a Account) Data() map[string]any {
	return map[string]any{"mount": a.Mount, "username": a.Username, "password": a.Password.Reveal()}
}
