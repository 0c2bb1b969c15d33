package restapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
)

// errorStatuses are the error answers every route may give.
var errorStatuses = map[string]string{
	"400": "Invalid input; nothing was attempted",
	"401": "No valid credential (API key, JWT or client certificate)",
	"403": "Not allowed: the access (tier) needed, or the approval page to relay",
	"404": "No such secret, version, key or route",
	"409": "Conflict: check-and-set (cas) mismatch, or another approval is pending",
	"429": "Too many calls; see Retry-After",
	"503": "Vault (or Gatekeeper's audit log) is unavailable; no access is granted",
}

// document is the OpenAPI 3.1 description of the API: each named route,
// and POST /v1/operations/NAME for every operation, with the operations'
// own input and output schemas.
func document(specs []mcptools.Spec, named []route, version string) map[string]any {
	schemas := map[string]any{"Error": schemaOf[Error]()}
	byName := map[string]mcptools.Spec{}
	for _, s := range specs {
		byName[s.Name] = s
		schemas[s.Name+"_input"] = toMap(s.Input)
		schemas[s.Name+"_output"] = toMap(s.Output)
	}
	paths := map[string]any{}
	at := func(path, method string, op map[string]any) {
		item, ok := paths[path].(map[string]any)
		if !ok {
			item = map[string]any{}
			paths[path] = item
		}
		item[strings.ToLower(method)] = op
	}
	for _, rt := range named {
		s := byName[rt.operation]
		op := operation(s, rt.method+" "+rt.openAPIPath(), rt.summary)
		var params []any
		if rt.hasPath() {
			params = append(params, map[string]any{
				"name": "path", "in": "path", "required": true,
				"description": "the secret's path, relative to your secrets folder; it may hold slashes (db/postgres)",
				"schema":      map[string]any{"type": "string"},
			})
		}
		for _, p := range rt.query {
			params = append(params, map[string]any{"name": p.name, "in": "query", "description": p.description, "schema": paramSchema(p.kind)})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.body {
			body := toMap(s.Input)
			if rt.hasPath() {
				body = without(body, "path")
			}
			op["requestBody"] = jsonBody(body)
		}
		at(rt.openAPIPath(), rt.method, op)
	}
	for _, s := range specs {
		op := operation(s, "operation "+s.Name, s.Title)
		op["requestBody"] = jsonBody(map[string]any{"$ref": "#/components/schemas/" + s.Name + "_input"})
		at(operationsPrefix+s.Name, http.MethodPost, op)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Gatekeeper REST API",
			"version": version,
			"description": "The operations of Gatekeeper's MCP tools over plain HTTP, with the same credentials, scopes, " +
				"tiers, approvals and audit. A call that needs an approval answers 403 with approval_url: relay " +
				"it to the human, then call again.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "a JWT, or an API key"},
				"mtls":   map[string]any{"type": "mutualTLS"},
			},
		},
		"security": []any{
			map[string]any{"apiKey": []any{}}, map[string]any{"bearer": []any{}}, map[string]any{"mtls": []any{}},
		},
	}
}

// operation is an OpenAPI operation for s, with its answers.
func operation(s mcptools.Spec, id, summary string) map[string]any {
	scope := s.Scope
	if scope == "" {
		scope = "any"
	}
	responses := map[string]any{"200": map[string]any{
		"description": "Done",
		"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + s.Name + "_output"}}},
	}}
	for code, desc := range errorStatuses {
		responses[code] = map[string]any{
			"description": desc,
			"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}},
		}
	}
	return map[string]any{
		"operationId": strings.NewReplacer(" ", "_", "/", "_", "{", "", "}", "", ":", "_").Replace(id),
		"summary":     summary,
		"description": s.Description + " Scope: " + scope + ".",
		"responses":   responses,
	}
}

func jsonBody(schema map[string]any) map[string]any {
	return map[string]any{"required": false, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
}

func paramSchema(kind string) map[string]any {
	if kind == "integers" {
		return map[string]any{"type": "string", "pattern": "^[0-9]+(,[0-9]+)*$"}
	}
	return map[string]any{"type": kind}
}

// without is an object schema without one property.
func without(schema map[string]any, prop string) map[string]any {
	out := map[string]any{}
	for k, v := range schema {
		out[k] = v
	}
	if props, ok := schema["properties"].(map[string]any); ok {
		kept := map[string]any{}
		for k, v := range props {
			if k != prop {
				kept[k] = v
			}
		}
		out["properties"] = kept
	}
	if req, ok := schema["required"].([]any); ok {
		out["required"] = slices.DeleteFunc(slices.Clone(req), func(v any) bool { return v == prop })
		if len(out["required"].([]any)) == 0 {
			delete(out, "required")
		}
	}
	return out
}

func schemaOf[T any]() map[string]any {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(err) // a fixed type of this package
	}
	return toMap(s)
}

// toMap is a schema as plain JSON values.
func toMap(s *jsonschema.Schema) map[string]any {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a schema inferred from a Go type encodes
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}
