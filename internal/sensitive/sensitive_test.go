package sensitive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestNeverPrinted(t *testing.T) {
	const secret = "hvs.top-secret-value"
	s := New(secret)
	type wrapper struct {
		Token String
		Ptr   *String
	}
	w := wrapper{Token: s, Ptr: &s}

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", s, "wrapper", w)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "token", s)
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", s),
		"%s":   fmt.Sprintf("%s", s),
		"%q":   fmt.Sprintf("%q", s),
		"%x":   fmt.Sprintf("%x", s),
		"%#v":  fmt.Sprintf("%#v", w),
		"%+v":  fmt.Sprintf("%+v", w),
		"json": string(js),
		"slog": logs.String(),
		"err":  fmt.Errorf("using %v", s).Error(),
	}
	for name, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s does not say %s: %s", name, Redacted, out)
		}
	}
	if s.Reveal() != secret {
		t.Errorf("Reveal() = %q, want the value", s.Reveal())
	}
	if !s.Equal(New(secret)) || s.Equal(New("other")) || s.IsZero() || !(String{}).IsZero() {
		t.Error("Equal/IsZero disagree with the values")
	}
}
