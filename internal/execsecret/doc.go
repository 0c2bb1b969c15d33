// Package execsecret runs a local command with secret values in its
// environment, so that an agent can use a secret (call an API, run a
// migration) without the value entering the model's context. It backs the
// run_with_secret tool, which exists only over stdio and only when the
// operator turns it on: over HTTP the "local process" would be on the
// server, not next to the agent.
//
// What the agent controls is narrow on purpose:
//
//   - The command is one of Options.Allowed, named by exactly the absolute,
//     clean path the operator configured. There is no PATH lookup and no
//     shell; the binary is executed directly with the arguments as given.
//     Symlinks are resolved when the Runner is built and again on every run,
//     and the two must agree: a symlink elsewhere that points at an allowed
//     binary is refused (its own path is not on the list, and multi-call
//     binaries such as busybox behave according to the name they are run
//     under), and an allowed path that has been re-pointed since start is
//     refused until the operator restarts Gatekeeper. The file executed is
//     the resolved one, with the configured path as argv[0].
//   - The environment starts from Options.BaseEnv, by default only PATH,
//     HOME and LANG, never the server's own environment, which holds
//     Gatekeeper's Vault credentials. A secret may set only the variables
//     the operator lists for that command in Options.Env (none by
//     default): an agent with write access chooses secret values, and a
//     variable a program reads as code or as where to load code or
//     configuration from (LD_PRELOAD, PSQLRC, LUA_INIT, OPENSSL_CONF,
//     KUBECONFIG, XDG_CONFIG_HOME, …) would turn a value into code. An
//     allowlist rather than a denylist, because no denylist can name every
//     variable every program reads; the well-known dangerous names are
//     still refused in the operator's list, as mistakes.
//   - The command gets no stdin (it reads /dev/null; in stdio mode the
//     server's stdin is the MCP stream), runs in its own process group, and
//     the whole group is killed on timeout, on cancellation and when the
//     command exits, so nothing it started outlives the call.
//
// Redaction. stdout and stderr go through package secretuse's redactor,
// the one http_request uses too: every value and its common encodings are
// replaced by a marker naming the secret, [REDACTED:db/postgres#password].
// Redaction runs on the whole captured stream, so an occurrence split across
// pipe reads is still found. Output is captured up to MaxOutput plus the
// longest form, redacted, and only then cut to MaxOutput; if the stream was
// longer, a trailing fragment that could be the start of a secret is
// dropped before redacting. Values shorter than 4 bytes are refused:
// redacting "ab" from output would either leak it or destroy the output.
//
// Redaction is a guard against accidents (a tool that echoes its
// configuration, a debug flag, an error message quoting a connection
// string), not against a hostile agent. It does not catch a value that has
// been transformed any other way (reversed, split, compressed, a substring,
// base64 of a larger text that contains it), and it cannot see what the
// command writes to files or sends over the network. An allowed shell,
// interpreter or anything that runs code from its arguments (sh, python,
// env, find -exec, git, curl --variable, psql, whose \! runs a shell
// command) gives the agent the value. The
// allowlist is the security boundary; operators should allow only
// purpose-built commands whose arguments cannot run code.
package execsecret
