package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{name: "ok/plain", in: "gatekeeper serve", want: []string{"gatekeeper", "serve"}},
		{name: "ok/spaces", in: "  npx   -y\tserver \n", want: []string{"npx", "-y", "server"}},
		{name: "ok/single-quotes", in: `sh -c 'echo "$HOME" x'`, want: []string{"sh", "-c", `echo "$HOME" x`}},
		{name: "ok/double-quotes", in: `a "b c" "d\"e" "f\\g" "h\i"`, want: []string{"a", "b c", `d"e`, `f\g`, `h\i`}},
		{name: "ok/backslash", in: `a\ b c\'d`, want: []string{"a b", "c'd"}},
		{name: "ok/adjacent", in: `x'y'"z"w`, want: []string{"xyzw"}},
		{name: "ok/empty-word", in: `a '' b`, want: []string{"a", "", "b"}},
		{name: "fail/empty", in: "   ", wantErr: true},
		{name: "fail/open-single", in: "a 'b", wantErr: true},
		{name: "fail/open-double", in: `a "b`, wantErr: true},
		{name: "fail/trailing-backslash", in: `a\`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SplitCommand(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("SplitCommand(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("SplitCommand(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseKV(t *testing.T) {
	for _, tc := range []struct {
		in, mount, path string
		wantErr         bool
	}{
		{in: "secret/agent/a/db", mount: "secret", path: "agent/a/db"},
		{in: "/kv/x/", mount: "kv", path: "x"},
		{in: "secret", wantErr: true},
		{in: "secret/", wantErr: true},
		{in: "", wantErr: true},
	} {
		mount, path, err := ParseKV(tc.in)
		if (err != nil) != tc.wantErr || mount != tc.mount || path != tc.path {
			t.Errorf("ParseKV(%q) = %q, %q, %v; want %q, %q, error %v", tc.in, mount, path, err, tc.mount, tc.path, tc.wantErr)
		}
	}
}
