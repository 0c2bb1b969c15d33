// Package secretuse lets Gatekeeper use a secret on an agent's behalf
// without the value entering the model's context: one placeholder syntax,
// one resolver and one redactor, shared by every tool that uses secrets
// (http_request, run_with_secret).
//
// The safest value is the one the model never reads. A value that reaches a
// model cannot be taken back: the client may log it, a hosted model may keep
// it, and one prompt injection in a web page, an issue comment or a file the
// agent reads can ask the model to send it anywhere. So the agent writes a
// placeholder where the value should go, Gatekeeper substitutes the value at
// the last moment, and what comes back is scrubbed of it.
//
// # Placeholders
//
// A placeholder is {{secret "PATH" "FIELD"}}: a field of the KV secret at
// PATH, an agent path relative to the agent's folder (checked by package
// paths), FIELD a field name like a path segment. Only "{{" directly
// followed by a kind's keyword starts a placeholder; any other "{{" is
// literal text. A placeholder that starts but does not parse (a missing
// quote, an invalid path, "{{ secret" with a space) is an input error, never
// literal text: sending it as written would do something the agent did not
// mean. The parser keeps a table of kinds, so another kind of value (a
// credential Vault mints) is one more entry.
//
// # Resolving
//
// A Resolver reads each distinct path once, the current version, with the
// token of the agent's own read grant: Vault's policy on that token decides
// what can be read, exactly as for read_secret. Every field must be text;
// a missing or non-text field is an error naming the path and field, never
// a value. Values shorter than MinValueLen (4 bytes without surrounding
// whitespace) are refused: redacting "ab" from output would either leak it
// or shred the output. Values are carried as sensitive.String and print
// as [REDACTED] however they are logged.
//
// Reveal rules (package reveal) decide what the read tools return to the
// model. They do not stop use: a path whose values are withheld can be used
// but not read. That is the point of the reveal rules' "withheld": the agent
// can work with the secret, the model never holds it.
//
// # Redaction, and what it cannot do
//
// Whatever comes back (a response's status, headers and body; a command's
// output) has every value replaced by a marker naming the secret,
// [REDACTED:api/github#token], before the model sees it. The redactor looks
// for each value and each value trimmed of surrounding whitespace, and for
// both: base64 in the standard and URL alphabets, padded and unpadded, and
// wrapped at 64 and 76 columns (as openssl and coreutils print it); hex in
// lower and upper case; URL query and path escaping; and the escaped forms
// inside a JSON string (with and without Go's HTML escaping). Overlapping
// occurrences of several secrets become one marker naming each. Where a
// stream was cut at a limit, a trailing fragment that could be the start of
// a value is dropped too.
//
// Redaction is a guard against accidents: an API that echoes the request,
// an error page quoting the Authorization header, a command with a debug
// flag. It is not a boundary against a hostile agent or destination. It
// cannot catch a value that has been transformed any other way (reversed,
// split, hashed, compressed, a substring, encrypted, base64 of a larger text
// that contains it), and it cannot see what a destination or a command does
// with the value elsewhere (stores it, sends it to a third party, writes it
// to a file). A destination or command that echoes a transformed value
// gives it to the model. The boundary is the operator's allowlist: allow
// only destinations and commands that are meant to receive the secret and
// that do not reflect it back.
package secretuse
