package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// FuzzLoad feeds Load a config file and two environment variables (picked
// from Vars by v1 and v2), then validates what it loaded, as serve and
// config check do. Whatever the input:
//   - neither Load nor Validate panics;
//   - Validate has no side effects: the configuration is unchanged and a
//     second Validate gives the same answer;
//   - no error quotes the value of a secret variable;
//   - a configuration Validate accepts (Load accepting it too) is one Load
//     accepts back: written out as a file and loaded again with the same
//     environment, it loads and validates without error, to the same
//     configuration. So Validate never accepts what Load would refuse.
//
// The seed corpus (testdata/fuzz/FuzzLoad) holds the documented example,
// unknown keys, wrong types, YAML oddities and bad environment values.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "gatekeeper.yaml")
	again := filepath.Join(dir, "again.yaml")
	f.Add([]byte("vault_addr: https://vault.example:8200\nagents:\n  - name: ci\n"), uint8(0), "", uint8(0), "")
	f.Fuzz(func(t *testing.T, file []byte, v1 uint8, val1 string, v2 uint8, val2 string) {
		if len(file) > 64<<10 || strings.ContainsRune(val1+val2, 0) {
			return
		}
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"VAULT_TOKEN=s.fuzz-bootstrap-token"}
		names := map[string]string{}
		for _, kv := range []struct {
			i   uint8
			val string
		}{{v1, val1}, {v2, val2}} {
			name := Vars[int(kv.i)%len(Vars)].Name
			names[name] = kv.val
			env = append(env, name+"="+kv.val)
		}
		c, loadErr := Load(env, path)
		before := deepCopy(c)
		valErr := c.Validate()
		if diff := cmp.Diff(before, c, cmpConfig...); diff != "" {
			t.Fatalf("Validate changed the configuration (-before +after):\n%s", diff)
		}
		if again := c.Validate(); errText(again) != errText(valErr) {
			t.Fatalf("Validate answered %q, then %q", errText(valErr), errText(again))
		}
		for name, val := range names {
			v := strings.TrimSpace(val)
			if !secretVars[name] || len(v) < 8 || !strings.Contains(errText(errors.Join(loadErr, valErr)), v) {
				continue
			}
			// The value is in an error: a leak, unless it is words of a
			// message that is there anyway, with the variable unset or
			// set to a value of the same length that says nothing.
			if !strings.Contains(loadErrors(path, env, name, ""), v) && !strings.Contains(loadErrors(path, env, name, strings.Repeat("v", len(val))), v) {
				t.Fatalf("an error quotes the value of %s", name)
			}
		}
		if loadErr != nil || valErr != nil {
			return
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("an accepted configuration cannot be written back: %v", err)
		}
		if err := os.WriteFile(again, out, 0o600); err != nil {
			t.Fatal(err)
		}
		c2, err := Load(env, again)
		if err != nil {
			t.Fatalf("Validate accepted a configuration that Load refuses when read back: %v\n%s", err, out)
		}
		if err := c2.Validate(); err != nil {
			t.Fatalf("the configuration read back is refused: %v\n%s", err, out)
		}
		if diff := cmp.Diff(c, c2, append(cmpConfig, cmpopts.IgnoreFields(Config{}, "FileSHA256"))...); diff != "" {
			t.Fatalf("the configuration changed on the way back (-first +again):\n%s\n%s", diff, out)
		}
	})
}

var cmpConfig = []cmp.Option{
	cmp.Comparer(func(a, b sensitive.String) bool { return a.Reveal() == b.Reveal() }),
	cmpopts.EquateEmpty(),
	cmpopts.EquateNaNs(),
}

// loadErrors is the text of what Load and Validate say with the variable
// name set to val instead ("" unsets it).
func loadErrors(path string, env []string, name, val string) string {
	var changed []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			changed = append(changed, kv)
		}
	}
	if val != "" {
		changed = append(changed, name+"="+val)
	}
	c, err := Load(changed, path)
	return errText(errors.Join(err, c.Validate()))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// deepCopy copies slices, maps and pointers, so that a change Validate made
// through one of them would show.
func deepCopy[T any](v T) T {
	var out T
	copyValue(reflect.ValueOf(&out).Elem(), reflect.ValueOf(v))
	return out
}

func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		if !dst.CanSet() {
			return
		}
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				copyValue(dst.Field(i), src.Field(i))
			} else {
				dst.Set(src) // unexported fields (sensitive.String): copied whole
				return
			}
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := range src.Len() {
			copyValue(dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeMapWithSize(src.Type(), src.Len()))
		for _, k := range src.MapKeys() {
			v := reflect.New(src.Type().Elem()).Elem()
			copyValue(v, src.MapIndex(k))
			dst.SetMapIndex(k, v)
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.New(src.Type().Elem()))
		copyValue(dst.Elem(), src.Elem())
	default:
		dst.Set(src)
	}
}

// TestFuzzFindings keeps what building FuzzLoad's corpus turned up: rates
// of .nan or .inf passed validation (NaN compares false with every bound),
// and a second YAML document was silently ignored.
func TestFuzzFindings(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"ok", "limits: {rate: {per_minute: 60, burst: 5}}\n", ""},
		{"fail/nan-rate", "limits: {rate: {per_minute: .nan, burst: 5}}\n", "limits.rate: per_minute must be positive"},
		{"fail/inf-rate", "limits: {approvals: {per_minute: .inf, burst: 5}}\n", "limits.approvals: per_minute must be positive"},
		{"fail/nan-agent-rate", "agents: [{name: ci, approvals: {per_minute: -.nan, burst: 1}}]\n", "per_minute must be positive"},
		{"fail/second-document", "log_level: info\n---\nlog_level: loud\n", "more than one YAML document"},
		{"ok/document-markers", "---\nvault_addr: https://vault.example:8200\nlog_level: info\n...\n", ""},
		{"ok/trailing-empty-document", "log_level: info\n---\n", ""},
		{"fail/second-document-of-comments-and-a-key", "log_level: info\n---\n# more\nprefix: x\n", "more than one YAML document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatekeeper.yaml")
			file := "vault_addr: https://vault.example:8200\n" + tc.file
			if strings.HasPrefix(tc.file, "---") {
				file = tc.file
			}
			if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load([]string{"VAULT_TOKEN=s.token"}, path)
			got := errText(errors.Join(err, c.Validate()))
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("errors %q, want %q", got, tc.want)
			}
		})
	}
}
