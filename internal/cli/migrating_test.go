package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.yaml.in/yaml/v3"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/httpserver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
	"github.com/gatekeeper-mcp/gatekeeper/internal/restapi"
)

const guide = "../../docs/migrating.md"

// What a name in the guide is, as the test reports it.
const (
	kindEnv     = "an environment variable"
	kindCommand = "a command or flag"
	kindRoute   = "an HTTP route"
	kindOther   = "a tool, scope, config key, chart value or file"
)

// TestMigratingGuide checks that every name the migration guide maps an
// earlier project's setting to exists in Gatekeeper: each backquoted name
// in a table's second column is an environment variable of config.Vars, a
// command and its flags, an HTTP route the server answers, an MCP tool, a
// scope, a config file key, a Helm value or a file of the repository. Its
// links must lead to files that exist.
func TestMigratingGuide(t *testing.T) {
	b, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	names := guideNames(string(b))
	kinds := map[string]int{}
	seen := map[string]bool{}
	probe := routeProbe(t)
	values := chartValues(t)
	for _, n := range names {
		for _, c := range checkName(t, n, probe, values) {
			if seen[c.key] {
				continue
			}
			seen[c.key] = true
			kinds[c.kind]++
			if !c.ok {
				t.Errorf("docs/migrating.md maps to %s, which is not %s", c.key, c.kind)
			}
		}
	}
	// A guide whose tables no longer parse must not pass by checking nothing.
	for _, k := range []string{kindEnv, kindCommand, kindRoute, kindOther} {
		if kinds[k] < 5 {
			t.Errorf("found %d names of kind %q in the guide, want at least 5: do its tables still parse?", kinds[k], k)
		}
	}
	linkRE := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, m := range linkRE.FindAllStringSubmatch(string(b), -1) {
		target, _, _ := strings.Cut(m[1], "#")
		if target == "" || strings.Contains(target, "://") {
			continue
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(guide), target)); err != nil {
			t.Errorf("docs/migrating.md links to %s: %v", m[1], err)
		}
	}
}

// guideNames returns the backquoted spans of the second column of every
// table row that is not a header or a separator.
func guideNames(doc string) []string {
	lines := strings.Split(doc, "\n")
	span := regexp.MustCompile("`([^`]+)`")
	var out []string
	for i, l := range lines {
		if !strings.HasPrefix(l, "|") || strings.HasPrefix(l, "|---") {
			continue
		}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "|---") {
			continue // header
		}
		cells := strings.Split(l, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range span.FindAllStringSubmatch(cells[2], -1) {
			out = append(out, m[1])
		}
	}
	return out
}

type checked struct {
	key, kind string
	ok        bool
}

var (
	envRE   = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	routeRE = regexp.MustCompile(`^(GET|PUT|POST|PATCH|DELETE) (/\S*)$`)
	wordRE  = regexp.MustCompile(`^[a-z]+$`)
)

func checkName(t *testing.T, name string, probe func(method, path string) bool, values map[string]any) []checked {
	switch {
	case envRE.MatchString(name):
		ok := slices.ContainsFunc(config.Vars, func(v config.Var) bool { return v.Name == name })
		return []checked{{name, kindEnv, ok}}
	case routeRE.MatchString(name):
		if strings.Contains(name, " /v1/") {
			// Behind authentication every /v1/ path answers 401, so the
			// REST API's own table says which routes exist.
			return []checked{{name, kindRoute, slices.Contains(restapi.Routes(), name)}}
		}
		m := routeRE.FindStringSubmatch(name)
		return []checked{{name, kindRoute, probe(m[1], m[2])}}
	case strings.HasPrefix(name, "gatekeeper "):
		return checkCommand(t, strings.Fields(name)[1:])
	}
	ok := mcptools.Allowed(name, config.Scopes) || slices.Contains(config.Scopes, name) ||
		configKey(reflect.TypeFor[config.Config](), name) || chartValue(values, name) || repoFile(name)
	return []checked{{name, kindOther, ok}}
}

// checkCommand runs "gatekeeper WORDS... -h" and looks for each flag in
// the usage it prints. Words after the command that are not flags are
// placeholders for values (FILE, AGENT).
func checkCommand(t *testing.T, args []string) []checked {
	var words, flagNames []string
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "-"):
			flagNames = append(flagNames, a)
		case len(flagNames) == 0 && wordRE.MatchString(a):
			words = append(words, a)
		}
	}
	cmd := "gatekeeper " + strings.Join(words, " ")
	var stdout, stderr bytes.Buffer
	err := Run(t.Context(), append(slices.Clone(words), "-h"), IO{
		Stdin: io.NopCloser(strings.NewReader("")), Stdout: &stdout, Stderr: &stderr,
	})
	out := []checked{{cmd, kindCommand, errors.Is(err, ErrHelp)}}
	for _, f := range flagNames {
		name := strings.TrimLeft(f, "-")
		listed := regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(name) + `(\s|$)`).MatchString(stderr.String())
		out = append(out, checked{cmd + " " + f, kindCommand, out[0].ok && listed})
	}
	return out
}

// routeProbe serves the real HTTP routes with no credential accepted and
// reports whether the server has a route for method and path: an unknown
// route gets the mux's own 404 or 405, a known one its handler's answer
// (here, mostly 401).
func routeProbe(t *testing.T) func(method, path string) bool {
	srv, err := httpserver.New(httpserver.Options{
		Addr:      "127.0.0.1:0",
		Auth:      noCredential{},
		Agents:    func(string) ([]string, bool) { return nil, false },
		MCPServer: func(string, []string) *mcp.Server { return mcp.NewServer(&mcp.Implementation{Name: "probe"}, nil) },
		Metrics:   http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done //nolint:errcheck // waiting for the server to stop
	})
	param := regexp.MustCompile(`\{[^}]*\}`)
	return func(method, path string) bool {
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+param.ReplaceAllString(path, "probe"), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		muxAnswer := (resp.StatusCode == http.StatusNotFound && string(body) == "404 page not found\n") ||
			(resp.StatusCode == http.StatusMethodNotAllowed && string(body) == "Method Not Allowed\n")
		return !muxAnswer
	}
}

type noCredential struct{}

func (noCredential) Name() string { return "none" }
func (noCredential) Authenticate(*http.Request) (*clientauth.Identity, error) {
	return nil, clientauth.ErrNoCredential
}

// configKey reports whether a dotted path ("auth.jwt.issuer",
// "agents[].rate") names a key of the config file.
func configKey(t reflect.Type, path string) bool {
	for _, seg := range strings.Split(strings.ReplaceAll(path, "[]", ""), ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return false
		}
		i := slices.IndexFunc(reflect.VisibleFields(t), func(f reflect.StructField) bool {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			return name == seg
		})
		if i < 0 {
			return false
		}
		t = reflect.VisibleFields(t)[i].Type
	}
	return true
}

func chartValues(t *testing.T) map[string]any {
	b, err := os.ReadFile("../../deploy/helm/gatekeeper/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// chartValue reports whether a dotted path ("vault.auth.method") names a
// value of the Helm chart.
func chartValue(values map[string]any, path string) bool {
	var cur any = values
	for _, seg := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[seg]; !ok {
			return false
		}
	}
	return true
}

func repoFile(path string) bool {
	if path == "" || strings.Contains(path, "..") || filepath.IsAbs(path) {
		return false
	}
	_, err := os.Stat(filepath.Join("../..", path))
	return err == nil
}
