// Package sensitive holds values that must never be printed: Vault tokens,
// passwords and passcodes. Every way Go, slog, fmt and encoding/json have of
// turning a value into text yields "[REDACTED]"; only Reveal gives the value,
// and only the code that sends it to Vault calls Reveal.
package sensitive

import (
	"fmt"
	"log/slog"
)

// Redacted is what every printed form of a String shows.
const Redacted = "[REDACTED]"

// String is a secret string. The zero value is empty.
type String struct{ v string }

// New wraps s.
func New(s string) String { return String{v: s} }

// Reveal returns the secret. Call it only where the value leaves the process
// towards Vault.
func (s String) Reveal() string { return s.v }

// IsZero reports whether the value is empty.
func (s String) IsZero() bool { return s.v == "" }

// Equal compares two values without revealing them.
func (s String) Equal(o String) bool { return s.v == o.v }

func (String) String() string   { return Redacted }
func (String) GoString() string { return Redacted }

// Format covers every fmt verb, including %q, %x and %#v.
func (String) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue keeps the value out of slog output.
func (String) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON keeps the value out of JSON output.
func (String) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText keeps the value out of text encoders.
func (String) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
