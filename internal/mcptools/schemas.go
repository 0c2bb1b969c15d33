package mcptools

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
)

// The schemas of the operations' inputs and outputs are inferred from their
// Go types once per process, not once per table: over HTTP every agent (and
// scope set) gets an MCP server of its own, and inferring and resolving the
// same schemas for each one cost about 350 KB of heap and 41 000
// allocations per server. Nothing changes a schema once made, so every
// table, server and OpenAPI document shares them.
var schemas sync.Map // reflect.Type → *typeSchema

type typeSchema struct {
	once     sync.Once
	schema   *jsonschema.Schema
	resolved *jsonschema.Resolved
	err      error
}

// schemaOf returns T's schema and its resolved form (as the MCP SDK
// resolves it); an error means T cannot be described, a programming error.
func schemaOf[T any]() (*jsonschema.Schema, *jsonschema.Resolved, error) {
	v, _ := schemas.LoadOrStore(reflect.TypeFor[T](), &typeSchema{})
	ts := v.(*typeSchema)
	ts.once.Do(func() {
		if ts.schema, ts.err = jsonschema.For[T](nil); ts.err == nil {
			ts.resolved, ts.err = ts.schema.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
		}
	})
	if ts.err != nil {
		return nil, nil, fmt.Errorf("schema of %v: %w", reflect.TypeFor[T](), ts.err)
	}
	return ts.schema, ts.resolved, nil
}
