package handlers

// The OpenAPI document against the code it describes: the route table, the
// JSON names of every view and body, and the domain's enums and limits. The
// end-to-end tests in cmd/latchkey validate real responses against it.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
	"github.com/latchkeyhq/latchkey/realms"
)

// routeServer is the echo server with every route; building the routes
// touches no registry.
func routeServer() *echo.Echo {
	return New(Config{Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
}

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIJSON)
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	return doc
}

// rawOpenAPI is the served document as plain JSON values.
func rawOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		t.Fatalf("the served document is not JSON: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValidOpenAPI31(t *testing.T) {
	doc := loadOpenAPI(t)
	if !doc.IsOpenAPI31OrLater() || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document does not validate: %v", err)
	}
	scheme := doc.Components.SecuritySchemes["management"]
	if scheme == nil || scheme.Value.Type != "oauth2" || scheme.Value.Flows == nil || scheme.Value.Flows.ClientCredentials == nil {
		t.Fatalf("security scheme management is not OAuth 2 client credentials: %+v", scheme)
	}
	cc := scheme.Value.Flows.ClientCredentials
	if _, ok := cc.Scopes[domain.ScopeManagement]; !ok || cc.TokenURL != "/realms/master/protocol/openid-connect/token" {
		t.Errorf("client credentials flow: token URL %q, scopes %v; want master's token endpoint and scope management", cc.TokenURL, cc.Scopes)
	}
	if len(doc.Security) != 1 || !slices.Equal(doc.Security[0]["management"], []string{domain.ScopeManagement}) {
		t.Errorf("document-wide security = %v, want management with scope management", doc.Security)
	}
	if op := doc.Paths.Find("/admin/openapi.json").Get; op == nil || op.Security == nil || len(*op.Security) != 0 {
		t.Errorf("GET /admin/openapi.json must need no authentication (security: [])")
	}
}

// TestOpenAPIDocumentCoversEveryAdminRoute walks echo's route table: every
// admin route is in the document, and the document names no other.
func TestOpenAPIDocumentCoversEveryAdminRoute(t *testing.T) {
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	inEcho := map[string]bool{}
	for _, r := range routeServer().Routes() {
		if !strings.HasPrefix(r.Path, "/admin/") || r.Method == echo.RouteNotFound {
			continue
		}
		inEcho[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	if len(inEcho) < 40 {
		t.Fatalf("found only %d admin routes in echo's table: %v", len(inEcho), inEcho)
	}
	inDoc := map[string]bool{}
	for path, item := range loadOpenAPI(t).Paths.Map() {
		for method := range item.Operations() {
			inDoc[method+" "+path] = true
		}
	}
	for _, r := range sortedKeys(inEcho) {
		if !inDoc[r] {
			t.Errorf("route %s is not in handlers/openapi.yaml", r)
		}
	}
	for _, r := range sortedKeys(inDoc) {
		if !inEcho[r] {
			t.Errorf("handlers/openapi.yaml names %s, which is no route", r)
		}
	}
}

func TestOpenAPIDocumentIsServedWithoutAuthentication(t *testing.T) {
	e := routeServer()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/openapi.json", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /admin/openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Body.String() != string(openAPIJSON) {
		t.Errorf("the served document is not the embedded one")
	}
	if _, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes()); err != nil {
		t.Errorf("the served document does not load: %v", err)
	}
	// The public route opens nothing else under /admin.
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/realms", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /admin/realms without a token: %d, want 401", rec.Code)
	}
}

// jsonNames lists the JSON member names of a struct type (embedded structs
// flattened), and which of them are always present (no omitempty).
func jsonNames(t reflect.Type) (names, always []string) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			n, a := jsonNames(f.Type)
			names, always = append(names, n...), append(always, a...)
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	return names, always
}

// schemaMembers lists a schema's properties (through allOf) and required
// members.
func schemaMembers(s *openapi3.Schema) (props, required []string) {
	for _, sub := range s.AllOf {
		p, r := schemaMembers(sub.Value)
		props, required = append(props, p...), append(required, r...)
	}
	for name := range s.Properties {
		props = append(props, name)
	}
	return props, append(required, s.Required...)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// TestOpenAPISchemasHaveTheViewsJSONNames holds each response schema to the
// Go type the handlers encode: the same member names, and required exactly
// where the member is always written.
func TestOpenAPISchemasHaveTheViewsJSONNames(t *testing.T) {
	schemas := loadOpenAPI(t).Components.Schemas
	for name, typ := range map[string]any{
		"Error": struct {
			apiError
			Missing []string `json:"missing_ids,omitempty"`
		}{},
		"Realm":          realmView{},
		"SigningKey":     keyView{},
		"RealmSettings":  domain.RealmSettings{},
		"ClientDefaults": domain.ClientDefaults{},
		"ClientSettings": domain.ClientSettings{},
		"Client":         clientView{},
		"Warning":        domain.Warning{},
		"Membership":     domain.Membership{},
		"Node":           nodeView{},
		"Scope":          domain.ScopeEntry{},
		"User":           userView{},
		"TokenSession":   sessionView{},
		"BrowserSession": uiSessionView{},
		"Event":          eventView{},
		"AuditEntry":     projections.AuditEntry{},
		"FieldChange":    projections.FieldChange{},
	} {
		ref := schemas[name]
		if ref == nil {
			t.Errorf("no schema %s", name)
			continue
		}
		names, always := jsonNames(reflect.TypeOf(typ))
		props, required := schemaMembers(ref.Value)
		if !sameSet(props, names) {
			t.Errorf("schema %s has members %v; the code writes %v", name, sorted(props), sorted(names))
		}
		if name == "RealmSettings" || name == "ClientDefaults" {
			continue // a request body too: every member is optional there
		}
		if !sameSet(required, always) {
			t.Errorf("schema %s requires %v; the code always writes %v", name, sorted(required), sorted(always))
		}
	}
}

// TestOpenAPIRequestBodiesHaveTheCommandsJSONNames holds request bodies to
// the types the handlers decode strictly.
func TestOpenAPIRequestBodiesHaveTheCommandsJSONNames(t *testing.T) {
	doc := loadOpenAPI(t)
	body := func(path, method string) *openapi3.Schema {
		op := doc.Paths.Find(path).GetOperation(method)
		return op.RequestBody.Value.Content.Get("application/json").Schema.Value
	}
	settings, _ := jsonNames(reflect.TypeOf(domain.ClientSettings{}))
	clientExtras := []string{"status", "confirm_high_risk", "client_id", "client_secret", "client_name",
		"seacatauth_credentials", "tenants"}
	clientExtras = append(clientExtras, outputOnly...)
	profile, _ := jsonNames(reflect.TypeOf(domain.UserProfile{}))
	newUser, _ := jsonNames(reflect.TypeOf(realms.NewUser{}))
	createNode, _ := jsonNames(reflect.TypeOf(domain.CreateNode{}))
	for _, c := range []struct {
		path, method string
		want         []string
	}{
		{"/admin/realms/{realm}/clients", http.MethodPost, append(slices.Clone(settings), clientExtras...)},
		{"/admin/realms/{realm}/clients/{id}", http.MethodPut, append(slices.Clone(settings), clientExtras...)},
		{"/admin/realms/{realm}/clients/{id}", http.MethodPatch, append(slices.Clone(settings), clientExtras...)},
		{"/admin/realms/{realm}/users", http.MethodPost, newUser},
		{"/admin/realms/{realm}/users/{id}", http.MethodPut, profile},
		{"/admin/realms/{realm}/nodes", http.MethodPost, createNode},
	} {
		s := body(c.path, c.method)
		props, _ := schemaMembers(s)
		if !sameSet(props, c.want) {
			t.Errorf("%s %s body has members %v; the handler reads %v", c.method, c.path, sorted(props), sorted(c.want))
		}
		if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
			t.Errorf("%s %s body must say additionalProperties: false (unknown members are refused)", c.method, c.path)
		}
	}
}

// TestOpenAPIStatesTheDomainsEnumsAndLimits compares each enum and limit of
// the document with the constant the code decides with.
func TestOpenAPIStatesTheDomainsEnumsAndLimits(t *testing.T) {
	doc := rawOpenAPI(t)
	const (
		settings = "/components/schemas/ClientSettings/properties/"
		schemas  = "/components/schemas/"
		paths    = "/paths/"
	)
	clientOp := paths + "~1admin~1realms~1{realm}~1clients~1{id}~1"
	for _, c := range []struct {
		pointer string
		want    any
	}{
		{settings + "type/enum", []string{domain.ClientConfidential, domain.ClientPublic}},
		{schemas + "ClientKind/enum", []string{domain.KindService, domain.KindUserApp}},
		{settings + "grant_types/items/enum", []string{domain.GrantClientCredentials, domain.GrantAuthorizationCode, domain.GrantRefreshToken, domain.GrantDeviceCode}},
		{settings + "token_endpoint_auth_method/enum", []string{domain.AuthSecretBasic, domain.AuthSecretPost, domain.AuthPrivateKeyJWT, domain.AuthNone}},
		{settings + "access_preset/enum", []string{domain.PresetReadOnly, domain.PresetFull}},
		{settings + "team_selection/enum", []string{domain.TeamsSingle, domain.TeamsMultiple}},
		{settings + "id_token_signed_response_alg/enum", []string{domain.AlgRS256, domain.AlgES256}},
		{settings + "access_token_lifetime/minimum", domain.MinAccessTokenLifetime},
		{settings + "access_token_lifetime/maximum", domain.MaxAccessTokenLifetime},
		{settings + "refresh_token_lifetime/minimum", domain.MinAccessTokenLifetime},
		{settings + "refresh_token_lifetime/maximum", domain.MaxRefreshTokenLifetime},
		{settings + "refresh_reuse_grace/maximum", domain.MaxRefreshReuseGrace},
		{settings + "description/maxLength", 2000},
		{schemas + "AccessTokenLifetimeInput/anyOf/1/minimum", domain.MinAccessTokenLifetime},
		{schemas + "AccessTokenLifetimeInput/anyOf/1/maximum", domain.MaxAccessTokenLifetime},
		{schemas + "RefreshTokenLifetimeInput/anyOf/1/maximum", domain.MaxRefreshTokenLifetime},
		{schemas + "DisplayName/maxLength", 200},
		{schemas + "ScopeDescription/maxLength", 500},
		{schemas + "Role/enum", domain.Roles},
		{schemas + "RealmRole/enum", domain.RealmRoles},
		{schemas + "Status/enum", []string{domain.StatusEnabled, domain.StatusDisabled}},
		{schemas + "NodeKind/enum", []string{domain.NodeOrganization, domain.NodeTeam, domain.NodeProject, domain.NodeApp}},
		{schemas + "TokenStatus/enum", []string{string(domain.StatusActive), string(domain.StatusExpired), string(domain.StatusRevoked)}},
		{schemas + "Password/minLength", domain.MinPasswordLength},
		{schemas + "RealmSettings/properties/token_retention/anyOf/1/minimum", domain.MinTokenRetention},
		{schemas + "RealmSettings/properties/compat/items/enum", domain.CompatProfiles},
		{schemas + "ClientDefaults/properties/access_token_lifetime/anyOf/1/minimum", domain.MinAccessTokenLifetime},
		{schemas + "ClientDefaults/properties/client_credentials_token_lifetime/anyOf/1/maximum", domain.MaxAccessTokenLifetime},
		{schemas + "ClientDefaults/properties/refresh_token_lifetime/anyOf/1/maximum", domain.MaxRefreshTokenLifetime},
		{clientOp + "rotate-secret/post/requestBody/content/application~1json/schema/properties/previous_secret_expires_in/maximum", domain.MaxSecretOverlap},
		{paths + "~1admin~1realms~1{realm}~1clients~1bulk-delete/post/requestBody/content/application~1json/schema/properties/ids/maxItems", realms.MaxBulkDelete},
		{"/components/parameters/limit/schema/maximum", maxPageSize},
		{"/components/parameters/limit/schema/default", defaultPageSize},
		{paths + "~1admin~1realms~1{realm}~1events/get/parameters/1/schema/maximum", eventstore.MaxPage},
		{paths + "~1admin~1realms~1{realm}~1nodes~1{slug}~1client-credentials/post/requestBody/content/application~1json/schema/properties/scope/enum", []string{domain.ScopeManagement, "consumer"}},
	} {
		got, ok := jsonPointer(doc, c.pointer)
		if !ok {
			t.Errorf("%s: not in the document", c.pointer)
			continue
		}
		want, _ := json.Marshal(c.want)
		have, _ := json.Marshal(got)
		if string(want) != string(have) {
			t.Errorf("%s = %s, the code says %s", c.pointer, have, want)
		}
	}
}

// TestOpenAPINamePatternIsTheDomains checks the document's name pattern
// decides as domain.IsValidName does.
func TestOpenAPINamePatternIsTheDomains(t *testing.T) {
	doc := rawOpenAPI(t)
	for _, schema := range []string{"RealmName", "Slug"} {
		p, _ := jsonPointer(doc, "/components/schemas/"+schema+"/pattern")
		re := regexp.MustCompile(p.(string))
		for _, name := range []string{"acme", "a", "0", "a-b", "-a", "A", "a.b", "a b", "a_b", "", strings.Repeat("a", 63), strings.Repeat("a", 64), "é"} {
			if re.MatchString(name) != domain.IsValidName(name) {
				t.Errorf("%s pattern %s says %v for %q, the domain %v", schema, p, re.MatchString(name), name, domain.IsValidName(name))
			}
		}
	}
}

// jsonPointer resolves an RFC 6901 pointer in decoded JSON.
func jsonPointer(v any, pointer string) (any, bool) {
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
