package main

// Every admin API response the end-to-end tests receive is validated against
// the OpenAPI document the server publishes at /admin/openapi.json, with
// kin-openapi: it loads OpenAPI 3.1 and validates with its JSON Schema
// 2020-12 validator. The harness's do calls checkAdminResponse; the CLI's
// tests also validate the requests the CLI sends.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// adminAPI is the document as the first server of this test run served it;
// every server of the run is the same binary.
var adminAPI struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// loadAdminAPI fetches, loads and validates the served document once.
func loadAdminAPI(base string) (*openapi3.T, routers.Router, error) {
	adminAPI.once.Do(func() {
		adminAPI.doc, adminAPI.router, adminAPI.err = fetchAdminAPI(base)
	})
	return adminAPI.doc, adminAPI.router, adminAPI.err
}

func fetchAdminAPI(base string) (*openapi3.T, routers.Router, error) {
	resp, err := http.Get(base + "/admin/openapi.json")
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET /admin/openapi.json: HTTP %d %v", resp.StatusCode, err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("loading /admin/openapi.json: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, nil, fmt.Errorf("/admin/openapi.json is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, nil, fmt.Errorf("/admin/openapi.json does not validate: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	return doc, router, err
}

// errNoOperation: the document has no operation for the request (an
// unknown path or method, which the route-walk test in handlers rules out
// for real routes).
var errNoOperation = errors.New("no operation in the document")

// validateAdminResponse checks one response against the document: a
// status the operation lists, its headers, and its body against the
// schema (each line of a JSON-lines body against AuditEntry).
func validateAdminResponse(base string, req *http.Request, status int, header http.Header, body []byte) error {
	doc, router, err := loadAdminAPI(base)
	if err != nil {
		return err
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoOperation, err)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return err
	}
	if strings.HasPrefix(header.Get("Content-Type"), "application/x-ndjson") {
		entry := doc.Components.Schemas["AuditEntry"].Value
		lines := bufio.NewScanner(bytes.NewReader(body))
		lines.Buffer(nil, 1<<20)
		for n := 1; lines.Scan(); n++ {
			var v any
			if err := json.Unmarshal(lines.Bytes(), &v); err != nil {
				return fmt.Errorf("JSON line %d: %w", n, err)
			}
			if err := entry.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
				return fmt.Errorf("JSON line %d is not an AuditEntry: %w", n, err)
			}
		}
	}
	return nil
}

// validateAdminRequest checks a request the CLI sends: parameters and
// body against the operation (authentication is the server's to judge).
func validateAdminRequest(base string, req *http.Request, body []byte) error {
	_, router, err := loadAdminAPI(base)
	if err != nil {
		return err
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoOperation, err)
	}
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: clone, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	})
}

// checkAdminResponse is the harness's hook: a response to an admin path
// that the document does not describe fails the test.
func checkAdminResponse(t *testing.T, base string, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if !strings.HasPrefix(req.URL.Path, "/admin/") {
		return
	}
	err := validateAdminResponse(base, req, status, header, body)
	if err != nil && !errors.Is(err, errNoOperation) {
		t.Errorf("%s %s → HTTP %d does not match /admin/openapi.json: %v\nbody: %.2000s", req.Method, req.URL.Path, status, err, body)
	}
}

// TestOpenAPIValidationHasTeeth: the validator the suite relies on refuses
// responses that break the document, and takes real ones.
func TestOpenAPIValidationHasTeeth(t *testing.T) {
	const secret = "openapi-teeth-bootstrap-secret-0000001"
	lk := startLatchkey(t, serverOpts{name: "openapi", data: t.TempDir(), bootstrapSecret: secret})
	admin := lk.adminToken(t, secret).AccessToken
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	created := lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"backend","scopes":["read"]}`, withBearer(admin))
	created.requireStatus(t, http.StatusCreated)
	var client map[string]any
	created.decode(t, &client)
	path := "/admin/realms/acme/clients/" + client["client_id"].(string)

	get := lk.get(t, path, withBearer(admin))
	get.requireStatus(t, http.StatusOK)
	req, _ := http.NewRequest(http.MethodGet, lk.base+path, nil)
	if err := validateAdminResponse(lk.base, req, get.status, get.header, get.body); err != nil {
		t.Fatalf("a real client view does not validate: %v", err)
	}

	broken := func(change func(map[string]any)) []byte {
		v := map[string]any{}
		_ = json.Unmarshal(get.body, &v)
		change(v)
		b, _ := json.Marshal(v)
		return b
	}
	for _, c := range []struct {
		what   string
		status int
		header http.Header
		body   []byte
	}{
		{"a member the document does not name (a secret hash)", 200, get.header, broken(func(v map[string]any) { v["secret_hash"] = "00" })},
		{"a required member missing", 200, get.header, broken(func(v map[string]any) { delete(v, "version") })},
		{"a value outside an enum", 200, get.header, broken(func(v map[string]any) { v["status"] = "paused" })},
		{"a lifetime over its maximum", 200, get.header, broken(func(v map[string]any) { v["access_token_lifetime"] = 86401 })},
		{"a member of a setting's list with a wrong role", 200, get.header, broken(func(v map[string]any) {
			v["roles"] = []any{map[string]any{"node": "eng", "role": "owner"}}
		})},
		{"an ETag that is not a quoted version", 200, http.Header{"Content-Type": {"application/json"}, "Etag": {"W/abc"}}, get.body},
		{"a status the operation does not list", http.StatusTeapot, get.header, []byte(`{"error":"teapot"}`)},
		{"an error body of another shape", http.StatusNotFound, http.Header{"Content-Type": {"application/json"}}, []byte(`{"message":"no"}`)},
	} {
		if err := validateAdminResponse(lk.base, req, c.status, c.header, c.body); err == nil {
			t.Errorf("%s: the validator accepted it", c.what)
		}
	}
}
