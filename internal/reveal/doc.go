// Package reveal decides, per agent path, whether the read tools may hand a
// secret's value to the model.
//
// A value that enters a model's context cannot be taken back: it may be
// logged by the client, sent to a hosted model, cached, or repeated in a
// later answer. Some deployments therefore want the agent to learn that a
// secret exists, and its metadata, without ever seeing the value, for all or
// some paths. A Policy lists glob rules over agent paths; the first rule
// that matches decides, and Default decides for paths no rule matches.
//
// The zero Policy reveals nothing, and so does a nil *Matcher and any path
// that is not a valid agent path: every doubt resolves to "keep the value
// out of the model".
//
// Patterns are agent paths (see package paths) in which a segment may hold
// globs. A "*" matches any run of characters inside one segment, possibly
// empty: "*" alone is any one whole segment, "db-*" any segment starting
// with "db-". A "**" that is a whole segment matches zero or more whole
// segments; "**" anywhere else is refused.
//
// So "prod/**" matches "prod", "prod/db" and "prod/db/password";
// "*/password" matches "db/password" but not "password" or "a/b/password";
// "**/tls/*" matches "tls/key" and "web/eu/tls/cert". There is no "?",
// no character class and no escape: the path alphabet has none of those
// characters, so there is nothing to escape, and a smaller language leaves
// fewer surprises in a security policy. "*" also matches segments that start
// with a dot: secret paths have no hidden files.
package reveal
