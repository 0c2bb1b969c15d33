package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHoldsSecret keeps secretVars in step with Vars: a variable whose value
// lands in the configuration but never shows when it is printed is kept in
// a sensitive.String, so it holds a secret, and the others do not.
func TestHoldsSecret(t *testing.T) {
	const probe = "probe-value-3f9a"
	all := cmp.Exporter(func(reflect.Type) bool { return true })
	for _, v := range Vars {
		c := Default()
		if err := v.apply(&c, probe); err != nil {
			continue // not a free-form value (a duration, a boolean, …)
		}
		changed := !cmp.Equal(Default(), c, all)
		hidden := !strings.Contains(fmt.Sprintf("%+v", c), probe)
		if got, want := HoldsSecret(v.Name), changed && hidden; got != want {
			t.Errorf("HoldsSecret(%s) = %v, want %v", v.Name, got, want)
		}
	}
	for name := range secretVars {
		if !Known(name) {
			t.Errorf("secretVars names %s, which is not in Vars", name)
		}
	}
}
