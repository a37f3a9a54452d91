package main

// End-to-end: the client lifecycle (create, validate, update, rotate,
// disable, delete, list), the realm's scope catalog and its node tree, and
// how nodes scope service tokens, against the real binary.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- helpers (prefixed lc to stay clear of other test files) ----

// lcEnv is one server with realm acme and an admin token.
type lcEnv struct {
	lk    *latchkey
	admin string
	realm string

	mu      sync.Mutex
	secrets []string // every secret seen, to be absent from reads and events
}

func lcStart(t *testing.T, name string) *lcEnv {
	t.Helper()
	bootstrap := "e2e-clients-" + name + "-bootstrap-secret-0001"
	lk := startLatchkey(t, serverOpts{name: name, data: t.TempDir(), bootstrapSecret: bootstrap})
	admin := lk.adminToken(t, bootstrap).AccessToken
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	return &lcEnv{lk: lk, admin: admin, realm: "acme", secrets: []string{bootstrap}}
}

func (e *lcEnv) addSecret(s string) {
	if s == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

func (e *lcEnv) allSecrets() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.secrets)
}

func (e *lcEnv) path(suffix string) string { return "/admin/realms/" + e.realm + suffix }

func (e *lcEnv) postJSON(t *testing.T, suffix, body string, opts ...reqOpt) *response {
	t.Helper()
	return e.lk.postJSON(t, e.path(suffix), body, append([]reqOpt{withBearer(e.admin)}, opts...)...)
}

func (e *lcEnv) send(t *testing.T, method, suffix, contentType, body string, opts ...reqOpt) *response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	all := []reqOpt{withBearer(e.admin)}
	if contentType != "" {
		all = append(all, withContentType(contentType))
	}
	return e.lk.do(t, method, e.path(suffix), rd, append(all, opts...)...)
}

func (e *lcEnv) get(t *testing.T, suffix string) *response {
	t.Helper()
	return e.lk.get(t, e.path(suffix), withBearer(e.admin))
}

// lcRole is a role assignment as the API shows it.
type lcRole struct {
	Node string `json:"node"`
	Role string `json:"role"`
}

// lcClient is a client view of the admin API.
type lcClient struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	Name                    string   `json:"name"`
	Description             string   `json:"description"`
	Type                    string   `json:"type"`
	Kind                    string   `json:"kind"`
	GrantTypes              []string `json:"grant_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scopes                  []string `json:"scopes"`
	AccessPreset            string   `json:"access_preset"`
	TeamSelection           string   `json:"team_selection"`
	TeamRestrictions        []string `json:"team_restrictions"`
	OwnerNode               string   `json:"owner_node"`
	RedirectURIs            []string `json:"redirect_uris"`
	AccessTokenLifetime     int64    `json:"access_token_lifetime"`
	IssueRefreshTokens      bool     `json:"issue_refresh_tokens"`
	RefreshTokenLifetime    int64    `json:"refresh_token_lifetime"`
	RefreshReuseGrace       int64    `json:"refresh_reuse_grace"`
	Roles                   []lcRole `json:"roles"`
	Status                  string   `json:"status"`
	PreviousSecretExpiresAt int64    `json:"previous_secret_expires_at"`
	Warnings                []struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	} `json:"warnings"`
	Version uint64 `json:"version"`
}

// decodeClient decodes a client answer and checks its ETag.
func (e *lcEnv) decodeClient(t *testing.T, r *response) lcClient {
	t.Helper()
	var c lcClient
	r.decode(t, &c)
	if c.Version == 0 {
		t.Errorf("client version is 0:\n%s", r)
	}
	r.checkHeader(t, "ETag", strconv.Quote(strconv.FormatUint(c.Version, 10)))
	e.addSecret(c.ClientSecret)
	return c
}

// create posts a client and requires 201.
func (e *lcEnv) create(t *testing.T, body string) lcClient {
	t.Helper()
	r := e.postJSON(t, "/clients", body)
	r.requireStatus(t, http.StatusCreated)
	c := e.decodeClient(t, r)
	if !uuidPattern.MatchString(c.ClientID) {
		t.Errorf("client_id %q is not a UUID:\n%s", c.ClientID, r)
	}
	r.checkHeader(t, "Location", e.path("/clients/"+c.ClientID))
	r.checkHeader(t, "Cache-Control", "no-store")
	if c.Type == "confidential" && !secretPattern.MatchString(c.ClientSecret) {
		t.Errorf("confidential client: client_secret %q is not 43 base64url characters:\n%s", c.ClientSecret, r)
	}
	return c
}

// read GETs a client, requires 200 and that no secret shows.
func (e *lcEnv) read(t *testing.T, id string) lcClient {
	t.Helper()
	r := e.get(t, "/clients/"+id)
	r.requireStatus(t, http.StatusOK)
	requireNoSecrets(t, "GET client", r.body, e.allSecrets()...)
	return e.decodeClient(t, r)
}

// lcErr is an error body with the admin API's extra members.
type lcErr struct {
	Error       string   `json:"error"`
	Description string   `json:"error_description"`
	Details     []string `json:"details"`
	MissingIDs  []string `json:"missing_ids"`
}

func lcError(t *testing.T, r *response, status int, code string) lcErr {
	t.Helper()
	r.checkError(t, status, code)
	var e lcErr
	_ = json.Unmarshal(r.body, &e)
	return e
}

// requireDetails checks a 400 invalid_request whose details name every
// wanted fragment, each in a detail of its own.
func requireDetails(t *testing.T, r *response, fragments ...string) lcErr {
	t.Helper()
	e := lcError(t, r, http.StatusBadRequest, "invalid_request")
	used := map[int]bool{}
	for _, f := range fragments {
		i := slices.IndexFunc(e.Details, func(d string) bool { return strings.Contains(d, f) })
		if i < 0 {
			t.Errorf("details do not name %q:\n%s", f, r)
			continue
		}
		if !strings.Contains(e.Description, f) {
			t.Errorf("error_description does not name %q:\n%s", f, r)
		}
		used[i] = true
	}
	if len(fragments) > 1 && len(used) != len(fragments) {
		t.Errorf("want %d separate details for %q, got %q", len(fragments), fragments, e.Details)
	}
	return e
}

// token requests a client-credentials token with client_secret_basic.
func (e *lcEnv) token(t *testing.T, id, secret, scope string) *response {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return e.lk.postForm(t, tokenPath(e.realm), form.Encode(), withBasic(id, secret))
}

func (e *lcEnv) tokenOK(t *testing.T, id, secret, scope string) string {
	t.Helper()
	return requireToken(t, e.token(t, id, secret, scope)).AccessToken
}

func (e *lcEnv) tokenRefused(t *testing.T, id, secret, why string) {
	t.Helper()
	r := e.token(t, id, secret, "")
	if r.status != http.StatusUnauthorized {
		t.Errorf("%s: want 401 invalid_client, got:\n%s", why, r)
		return
	}
	r.checkError(t, http.StatusUnauthorized, "invalid_client")
}

// lcClaims decodes a JWT's payload without verifying it.
func lcClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// strs turns a decoded JSON array into strings (nil when absent).
func strs(v any) []string {
	arr, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// allEvents lists the realm's events and checks that none shows a secret.
func (e *lcEnv) allEvents(t *testing.T) eventsPage {
	t.Helper()
	p := e.lk.events(t, e.admin, e.realm, "after_seq=0&limit=1000")
	requireNoSecrets(t, "events", p.resp.body, e.allSecrets()...)
	return p
}

func eventsOf(evs []eventView, typ, aggregate string) []eventView {
	var out []eventView
	for _, ev := range evs {
		if ev.Type == typ && (aggregate == "" || ev.Aggregate == aggregate) {
			out = append(out, ev)
		}
	}
	return out
}

// checkAdminMeta checks that every event of the types was written by the
// bootstrap admin, with its client id, IP and request id.
func checkAdminMeta(t *testing.T, evs []eventView, types ...string) {
	t.Helper()
	for _, typ := range types {
		n := 0
		for _, ev := range evs {
			if ev.Type != typ {
				continue
			}
			n++
			if ev.Actor != "client:latchkey-admin" || ev.ClientID != "latchkey-admin" || ev.IP != "127.0.0.1" || ev.RequestID == "" {
				t.Errorf("%s event %d: actor %q client_id %q ip %q request_id %q, want client:latchkey-admin, latchkey-admin, 127.0.0.1 and a request id",
					typ, ev.Seq, ev.Actor, ev.ClientID, ev.IP, ev.RequestID)
			}
		}
		if n == 0 {
			t.Errorf("no %s event", typ)
		}
	}
}

// lcResult is an answer received in a goroutine (no *testing.T there).
type lcResult struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (e *lcEnv) rawDo(method, suffix, contentType, body string) lcResult {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.lk.base+e.path(suffix), rd)
	if err != nil {
		return lcResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.lk.client.Do(req)
	if err != nil {
		return lcResult{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return lcResult{status: resp.StatusCode, header: resp.Header, body: raw, err: err}
}

// ---- 1–4: defaults, validation, the scope catalog, warnings, high risk ----

func TestClientDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	e := lcStart(t, "clients-defaults")
	created := 0

	t.Run("confidential service defaults", func(t *testing.T) {
		r := e.postJSON(t, "/clients", `{"name":"svc"}`)
		r.requireStatus(t, http.StatusCreated)
		created++
		c := e.decodeClient(t, r)
		var raw map[string]any
		r.decode(t, &raw)
		want := map[string]any{
			"name": "svc", "description": "", "type": "confidential", "kind": "service",
			"grant_types": []any{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
			"scopes": []any{}, "access_preset": "read_only", "team_selection": "single", "team_restrictions": []any{},
			"owner_node": "", "redirect_uris": []any{}, "access_token_lifetime": 3600.0, "issue_refresh_tokens": false,
			"refresh_token_lifetime": 604800.0, "refresh_reuse_grace": 0.0, "roles": []any{}, "status": "enabled",
			"warnings": []any{},
		}
		for k, v := range want {
			if !reflect.DeepEqual(raw[k], v) {
				t.Errorf("%s = %#v, want %#v", k, raw[k], v)
			}
		}
		// Settings added later may appear; secret material never does.
		for _, k := range []string{"secret_hash", "previous_secret_expires_at", "confirm_high_risk"} {
			if _, has := raw[k]; has {
				t.Errorf("a new client shows %q:\n%s", k, r)
			}
		}
		if !uuidPattern.MatchString(c.ClientID) || !secretPattern.MatchString(c.ClientSecret) {
			t.Errorf("client_id %q / client_secret %q: want a UUID and 43 base64url characters", c.ClientID, c.ClientSecret)
		}
		r.checkHeader(t, "ETag", `"`+strconv.FormatUint(c.Version, 10)+`"`)
		r.checkHeader(t, "Location", e.path("/clients/"+c.ClientID))
		e.tokenOK(t, c.ClientID, c.ClientSecret, "")
		got := e.read(t, c.ClientID)
		if got.ClientSecret != "" || got.Version != c.Version || got.Name != "svc" {
			t.Errorf("GET after create = %+v", got)
		}
	})

	t.Run("public user app", func(t *testing.T) {
		r := e.postJSON(t, "/clients", `{"name":"cli","type":"public","redirect_uris":["http://127.0.0.1/callback"]}`)
		r.requireStatus(t, http.StatusCreated)
		created++
		c := e.decodeClient(t, r)
		if c.Kind != "user_app" || !slices.Equal(c.GrantTypes, []string{"authorization_code"}) || c.TokenEndpointAuthMethod != "none" ||
			!slices.Equal(c.RedirectURIs, []string{"http://127.0.0.1/callback"}) {
			t.Errorf("public client = %+v", c)
		}
		if strings.Contains(string(r.body), "client_secret") {
			t.Errorf("a public client's answer carries client_secret:\n%s", r)
		}
		e.postJSON(t, "/clients/"+c.ClientID+"/rotate-secret", "").checkError(t, http.StatusBadRequest, "invalid_request")
	})

	// A node to refer to.
	e.postJSON(t, "/nodes", `{"slug":"acme-org","kind":"organization"}`).requireStatus(t, http.StatusCreated)

	t.Run("validation", func(t *testing.T) {
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","scopes":["read","nope"]}`), `"nope"`)
		// Several problems at once: each is its own detail.
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","scopes":["nope"],"access_token_lifetime":5,"refresh_reuse_grace":120}`),
			`"nope"`, "access_token_lifetime", "refresh_reuse_grace")
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","grant_types":["authorization_code"]}`), "redirect URI")
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","type":"public","grant_types":["client_credentials"],"redirect_uris":["https://a.example/cb"]}`),
			"public client cannot use client_credentials")
		for _, lt := range []int{5, 100000} {
			requireDetails(t, e.postJSON(t, "/clients", fmt.Sprintf(`{"name":"x","access_token_lifetime":%d}`, lt)), "access_token_lifetime")
		}
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","refresh_reuse_grace":120}`), "refresh_reuse_grace")
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","team_restrictions":["ghost"]}`), `"ghost"`)
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","roles":[{"node":"acme-org","role":"owner"}]}`), `"owner"`)
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","roles":[{"node":"nowhere","role":"viewer"}]}`), `"nowhere"`)
		requireDetails(t, e.postJSON(t, "/clients", `{"name":""}`), "name")
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","description":"fine\nbut \u202e not this"}`), "description")
		// A name is shown at consent: one line, no control or bidirectional
		// formatting characters; its limit counts characters, not bytes.
		for _, name := range []string{`"line\nbreak"`, `"pay\u202egro.lixe"`, `"nul\u0000"`, `"` + strings.Repeat("ü", 201) + `"`} {
			requireDetails(t, e.postJSON(t, "/clients", `{"name":`+name+`}`), "name")
		}
		e.create(t, `{"name":"`+strings.Repeat("ü", 200)+`"}`)
		created++
		lcError(t, e.postJSON(t, "/clients", `{"name":"x","colour":"red"}`), http.StatusBadRequest, "invalid_request")
		lcError(t, e.postJSON(t, "/clients", `{"name":"x","roles":["acme-org"]}`), http.StatusBadRequest, "invalid_request")
		// A body two readers could read differently is refused: a member
		// named twice, or not in its exact case, or invalid UTF-8.
		for _, body := range []string{
			`{"name":"dup","scopes":["read"],"scopes":["management"]}`,
			`{"name":"upper","Scopes":["management"]}`,
			`{"NAME":"upper"}`,
			"{\"name\":\"bad \xff utf-8\"}",
			`{"name":"trailing"} {}`,
			`{"name":"chosen secret","client_secret":"my-own-secret"}`, // made by the server only
		} {
			lcError(t, e.postJSON(t, "/clients", body), http.StatusBadRequest, "invalid_request")
		}
	})

	t.Run("body size", func(t *testing.T) {
		// 1 MiB is the limit: just under it is read (and refused for what
		// it says), just over it is 413, also when sent chunked.
		pad := func(n int) string { return `{"name":"` + strings.Repeat("a", n-len(`{"name":""}`)) + `"}` }
		lcError(t, e.postJSON(t, "/clients", pad(1<<20)), http.StatusBadRequest, "invalid_request")
		e.postJSON(t, "/clients", pad(1<<20+1)).checkError(t, http.StatusRequestEntityTooLarge, "request_too_large")
		// A reader of unknown length goes out chunked.
		chunked := io.MultiReader(strings.NewReader(pad(1<<20 + 1)))
		e.lk.do(t, http.MethodPost, e.path("/clients"), chunked, withBearer(e.admin), withContentType("application/json")).
			checkError(t, http.StatusRequestEntityTooLarge, "request_too_large")
	})

	t.Run("redirect URIs", func(t *testing.T) {
		invalid := []string{"http://example.com/cb", "https://*.example.com/cb", "https://app.example.com/cb#frag", "ftp://x/y", "not a url", "https://app.example.com:99999/cb"}
		valid := []string{"https://app.example.com/cb", "http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost/cb"}
		body, _ := json.Marshal(map[string]any{"name": "web", "type": "public", "redirect_uris": append(slices.Clone(valid), invalid...)})
		r := e.postJSON(t, "/clients", string(body))
		er := lcError(t, r, http.StatusBadRequest, "invalid_request")
		all := er.Description + "\n" + strings.Join(er.Details, "\n")
		for _, u := range invalid {
			if !strings.Contains(all, u+" (") {
				t.Errorf("the refusal does not name invalid redirect URI %q:\n%s", u, r)
			}
		}
		for _, u := range valid {
			if strings.Contains(all, u+" (") {
				t.Errorf("the refusal names valid redirect URI %q:\n%s", u, r)
			}
		}
		body, _ = json.Marshal(map[string]any{"name": "web", "type": "public", "redirect_uris": valid})
		c := e.create(t, string(body))
		created++
		if !slices.Equal(c.RedirectURIs, valid) {
			t.Errorf("redirect_uris = %q, want %q", c.RedirectURIs, valid)
		}
		for _, u := range invalid {
			body, _ := json.Marshal(map[string]any{"name": "web", "type": "public", "redirect_uris": []string{u}})
			requireDetails(t, e.postJSON(t, "/clients", string(body)), u+" (")
		}
	})

	t.Run("scope catalog", func(t *testing.T) {
		type entry struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			BuiltIn     bool   `json:"built_in"`
		}
		list := func() map[string]entry {
			r := e.get(t, "/scopes")
			r.requireStatus(t, http.StatusOK)
			var body struct {
				Scopes []entry `json:"scopes"`
			}
			r.decode(t, &body)
			out := map[string]entry{}
			for _, s := range body.Scopes {
				out[s.Name] = s
			}
			return out
		}
		got := list()
		for _, n := range []string{"openid", "profile", "email", "offline_access"} {
			if s, ok := got[n]; !ok || !s.BuiltIn || s.Description == "" {
				t.Errorf("built-in scope %s = %+v (present %v)", n, s, ok)
			}
		}
		for _, n := range []string{"management", "read", "write", "consumer"} {
			if s, ok := got[n]; !ok || s.BuiltIn || s.Description == "" {
				t.Errorf("default scope %s = %+v (present %v)", n, s, ok)
			}
		}
		if len(got) != 8 {
			t.Errorf("catalog has %d scopes, want 8: %v", len(got), slices.Sorted(maps.Keys(got)))
		}

		requireDetails(t, e.postJSON(t, "/clients", `{"name":"tr","scopes":["transcribe"]}`), `"transcribe"`)
		r := e.send(t, http.MethodPut, "/scopes/transcribe", "application/json", `{"description":"Transcribe audio"}`)
		r.requireStatus(t, http.StatusOK)
		if s := list()["transcribe"]; s.Description != "Transcribe audio" || s.BuiltIn {
			t.Errorf("transcribe after PUT = %+v", s)
		}
		c := e.create(t, `{"name":"tr","scopes":["transcribe","read"]}`)
		created++
		if tok := requireToken(t, e.token(t, c.ClientID, c.ClientSecret, "transcribe")); tok.Scope != "transcribe" {
			t.Errorf("scope=transcribe granted %q", tok.Scope)
		}
		e.send(t, http.MethodDelete, "/scopes/transcribe", "", "").checkError(t, http.StatusConflict, "conflict")
		e.send(t, http.MethodDelete, "/scopes/openid", "", "").checkError(t, http.StatusConflict, "conflict")
		e.send(t, http.MethodPut, "/scopes/openid", "application/json", `{"description":"mine"}`).checkError(t, http.StatusConflict, "conflict")
		e.send(t, http.MethodPut, "/scopes/tenant:x", "application/json", `{"description":"no"}`).checkError(t, http.StatusBadRequest, "invalid_request")
		// Shown at consent: one line, no bidirectional overrides.
		e.send(t, http.MethodPut, "/scopes/transcribe", "application/json", `{"description":"Read\u202e ətad ruoy etelep"}`).checkError(t, http.StatusBadRequest, "invalid_request")
		e.send(t, http.MethodPut, "/scopes/transcribe", "application/json", `{"description":"two\nlines"}`).checkError(t, http.StatusBadRequest, "invalid_request")
		e.send(t, http.MethodPut, "/scopes/tmp", "application/json", `{"description":"Temporary"}`).requireStatus(t, http.StatusOK)
		e.send(t, http.MethodDelete, "/scopes/tmp", "", "").requireStatus(t, http.StatusNoContent)
		e.send(t, http.MethodDelete, "/scopes/tmp", "", "").checkError(t, http.StatusNotFound, "not_found")
		if _, ok := list()["tmp"]; ok {
			t.Error("scope tmp still listed after DELETE")
		}
	})

	t.Run("refresh token warnings", func(t *testing.T) {
		for _, tc := range []struct {
			days  int
			level string
		}{{7, "info"}, {60, "warning"}, {120, "high"}} {
			c := e.create(t, fmt.Sprintf(`{"name":"rt%d","issue_refresh_tokens":true,"refresh_token_lifetime":%d}`, tc.days, tc.days*86400))
			created++
			if len(c.Warnings) != 1 || c.Warnings[0].Level != tc.level || c.Warnings[0].Message == "" {
				t.Errorf("%d days: warnings %+v, want one of level %s", tc.days, c.Warnings, tc.level)
			}
			if !c.IssueRefreshTokens || !slices.Contains(c.GrantTypes, "refresh_token") {
				t.Errorf("%d days: issue_refresh_tokens %v grant_types %v", tc.days, c.IssueRefreshTokens, c.GrantTypes)
			}
			if got := e.read(t, c.ClientID); len(got.Warnings) != 1 || got.Warnings[0].Level != tc.level {
				t.Errorf("%d days: GET warnings %+v", tc.days, got.Warnings)
			}
		}
	})

	t.Run("high risk needs confirmation", func(t *testing.T) {
		r := e.postJSON(t, "/clients", `{"name":"risky","access_preset":"full","access_token_lifetime":7200}`)
		lcError(t, r, http.StatusConflict, "confirmation_required")
		c := e.create(t, `{"name":"risky","access_preset":"full","access_token_lifetime":7200,"confirm_high_risk":true}`)
		created++
		if c.AccessPreset != "full" || c.AccessTokenLifetime != 7200 {
			t.Errorf("confirmed high-risk client = %+v", c)
		}
		if tok := requireToken(t, e.token(t, c.ClientID, c.ClientSecret, "")); tok.ExpiresIn != 7200 {
			t.Errorf("high-risk client token expires_in %v, want 7200", tok.ExpiresIn)
		}
		c = e.create(t, `{"name":"full-1h","access_preset":"full","access_token_lifetime":3600}`)
		created++
		// Raising an existing client into high risk needs confirmation too.
		r = e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "application/merge-patch+json", `{"access_token_lifetime":7200}`)
		lcError(t, r, http.StatusConflict, "confirmation_required")
		r = e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "application/merge-patch+json", `{"access_token_lifetime":7200,"confirm_high_risk":true}`)
		r.requireStatus(t, http.StatusOK)
		// Once high risk, a longer lifetime is asked again; other edits are not.
		r = e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "application/merge-patch+json", `{"access_token_lifetime":86400}`)
		lcError(t, r, http.StatusConflict, "confirmation_required")
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "application/merge-patch+json", `{"description":"still 2 h"}`).requireStatus(t, http.StatusOK)
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "application/merge-patch+json", `{"access_token_lifetime":86400,"confirm_high_risk":true}`).
			requireStatus(t, http.StatusOK)
	})

	t.Run("refused requests created nothing", func(t *testing.T) {
		r := e.get(t, "/clients")
		r.requireStatus(t, http.StatusOK)
		requireNoSecrets(t, "client list", r.body, e.allSecrets()...)
		var body struct {
			Total int `json:"total"`
		}
		r.decode(t, &body)
		if body.Total != created {
			t.Errorf("total clients %d, want the %d created", body.Total, created)
		}
		evs := e.allEvents(t).Events
		// Besides the realm's console client, created with the realm.
		if n := len(eventsOf(evs, "client.created", "")); n != created+1 {
			t.Errorf("client.created events: %d, want the console's and %d", n, created)
		}
		checkAdminMeta(t, evs, "client.created", "realm.scope_defined", "realm.scope_removed", "node.created", "client.updated")
		defined := eventsOf(evs, "realm.scope_defined", "")
		if !slices.ContainsFunc(defined, func(ev eventView) bool {
			return ev.Data["name"] == "transcribe" && ev.Data["description"] == "Transcribe audio"
		}) {
			t.Errorf("no realm.scope_defined event for transcribe: %+v", defined)
		}
	})
}

// ---- 5: updates ----

func TestClientUpdates(t *testing.T) {
	t.Parallel()
	e := lcStart(t, "clients-updates")
	c := e.create(t, `{"name":"upd","description":"first","scopes":["read"],"access_token_lifetime":600}`)
	merge := "application/merge-patch+json"

	t.Run("PUT replaces every setting", func(t *testing.T) {
		r := e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", `{"name":"upd2"}`)
		r.requireStatus(t, http.StatusOK)
		got := e.decodeClient(t, r)
		if got.Name != "upd2" || got.Description != "" || len(got.Scopes) != 0 || got.AccessTokenLifetime != 3600 ||
			got.Version <= c.Version || got.ClientSecret != "" || got.ClientID != c.ClientID {
			t.Errorf("after PUT {name}: %+v, want every other setting back to its default", got)
		}
		// A PUT may send the view back, output-only fields included.
		back, _ := json.Marshal(got)
		r = e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", string(back))
		r.requireStatus(t, http.StatusOK)
		if again := e.decodeClient(t, r); again.Version != got.Version {
			t.Errorf("PUT of the unchanged view changed the version %d → %d", got.Version, again.Version)
		}
		e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", `{"name":"x","client_id":"other"}`).
			checkError(t, http.StatusBadRequest, "invalid_request")
		e.send(t, http.MethodPut, "/clients/00000000-0000-4000-8000-000000000000", "application/json", `{"name":"x"}`).
			checkError(t, http.StatusNotFound, "not_found")
	})

	t.Run("PATCH merges", func(t *testing.T) {
		e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json",
			`{"name":"upd2","scopes":["read","write"],"access_token_lifetime":900}`).requireStatus(t, http.StatusOK)
		r := e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"description":"second"}`)
		r.requireStatus(t, http.StatusOK)
		got := e.decodeClient(t, r)
		if got.Name != "upd2" || got.Description != "second" || !slices.Equal(got.Scopes, []string{"read", "write"}) || got.AccessTokenLifetime != 900 {
			t.Errorf("after PATCH {description}: %+v", got)
		}
		r = e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"scopes":null}`)
		r.requireStatus(t, http.StatusOK)
		if got := e.decodeClient(t, r); len(got.Scopes) != 0 || got.Description != "second" {
			t.Errorf("after PATCH {scopes:null}: %+v, want no scopes and the rest kept", got)
		}
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "text/plain", `{"description":"x"}`).
			checkError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
		// A member in another case is unknown, not a silent no-op.
		before := e.read(t, c.ClientID)
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"Scopes":["write"]}`).checkError(t, http.StatusBadRequest, "invalid_request")
		if after := e.read(t, c.ClientID); after.Version != before.Version {
			t.Errorf("a refused PATCH changed the client: %+v", after)
		}
	})

	t.Run("If-Match", func(t *testing.T) {
		old := e.read(t, c.ClientID)
		r := e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"description":"third"}`)
		r.requireStatus(t, http.StatusOK)
		cur := e.decodeClient(t, r)
		stale := `"` + strconv.FormatUint(old.Version, 10) + `"`
		// A stale If-Match is 412 Precondition Failed (RFC 9110 §13.1.1).
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"description":"stale"}`, withHeader("If-Match", stale)).
			checkError(t, http.StatusPreconditionFailed, "precondition_failed")
		e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", `{"name":"stale"}`, withHeader("If-Match", stale)).
			checkError(t, http.StatusPreconditionFailed, "precondition_failed")
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"description":"x"}`, withHeader("If-Match", "nonsense")).
			checkError(t, http.StatusBadRequest, "invalid_request")
		e.send(t, http.MethodPatch, "/clients/"+usGhost, merge, `{"description":"x"}`, withHeader("If-Match", "*")).
			checkError(t, http.StatusNotFound, "not_found") // "*": any current representation, and there is none
		if got := e.read(t, c.ClientID); got.Description != "third" || got.Version != cur.Version {
			t.Errorf("refused stale updates changed the client: %+v", got)
		}
		r = e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"description":"fourth"}`, withHeader("If-Match", r.header.Get("ETag")))
		r.requireStatus(t, http.StatusOK)
		next := e.decodeClient(t, r)
		if next.Description != "fourth" || next.Version <= cur.Version || r.header.Get("ETag") == `"`+strconv.FormatUint(cur.Version, 10)+`"` {
			t.Errorf("PATCH with the current ETag: %+v, ETag %q", next, r.header.Get("ETag"))
		}
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"description":"fifth"}`, withHeader("If-Match", "*")).requireStatus(t, http.StatusOK)

		// A view sent back carries its version: stale, it is refused, so
		// it cannot undo a change made since it was read.
		view := e.read(t, c.ClientID)
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"scopes":["read","write"]}`).requireStatus(t, http.StatusOK)
		body, _ := json.Marshal(view)
		e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", string(body)).checkError(t, http.StatusConflict, "conflict")
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, fmt.Sprintf(`{"description":"stale","version":%d}`, view.Version)).
			checkError(t, http.StatusConflict, "conflict")
		fresh := e.read(t, c.ClientID)
		if !slices.Equal(fresh.Scopes, []string{"read", "write"}) || fresh.Description != "fifth" {
			t.Errorf("a stale view sent back changed the client: %+v", fresh)
		}
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, fmt.Sprintf(`{"description":"sixth","version":%d}`, fresh.Version),
			withHeader("If-Match", `"`+strconv.FormatUint(fresh.Version+1, 10)+`"`)).checkError(t, http.StatusBadRequest, "invalid_request")
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, fmt.Sprintf(`{"description":"sixth","version":%d}`, fresh.Version)).
			requireStatus(t, http.StatusOK)
	})

	t.Run("refresh tokens switched off and on", func(t *testing.T) {
		rc := e.create(t, `{"name":"refreshing","kind":"user_app","redirect_uris":["https://app.example.com/cb"],"issue_refresh_tokens":true}`)
		patch := func(body string) lcClient {
			t.Helper()
			r := e.send(t, http.MethodPatch, "/clients/"+rc.ClientID, merge, body)
			r.requireStatus(t, http.StatusOK)
			return e.decodeClient(t, r)
		}
		for _, tc := range []struct {
			body string
			on   bool
		}{
			{`{"issue_refresh_tokens":false}`, false},
			{`{"issue_refresh_tokens":true}`, true},
			{`{"issue_refresh_tokens":null}`, false},
			{`{"grant_types":["authorization_code","refresh_token"]}`, true},
			{`{"grant_types":["authorization_code"]}`, false},
		} {
			got := patch(tc.body)
			if got.IssueRefreshTokens != tc.on || slices.Contains(got.GrantTypes, "refresh_token") != tc.on {
				t.Errorf("PATCH %s: issue_refresh_tokens %v, grant_types %v; want refresh tokens on=%v", tc.body, got.IssueRefreshTokens, got.GrantTypes, tc.on)
			}
		}
		e.send(t, http.MethodPut, "/clients/"+rc.ClientID, "application/json",
			`{"name":"refreshing","kind":"user_app","redirect_uris":["https://app.example.com/cb"],"issue_refresh_tokens":false,"grant_types":["authorization_code","refresh_token"]}`).
			checkError(t, http.StatusBadRequest, "invalid_request")
	})

	t.Run("If-Match on rotate, disable, enable and delete", func(t *testing.T) {
		cc := e.create(t, `{"name":"conditional"}`)
		stale := withHeader("If-Match", `"`+strconv.FormatUint(cc.Version, 10)+`"`)
		e.send(t, http.MethodPatch, "/clients/"+cc.ClientID, merge, `{"description":"moved on"}`).requireStatus(t, http.StatusOK)
		for _, r := range []*response{
			e.postJSON(t, "/clients/"+cc.ClientID+"/rotate-secret", "", stale),
			e.postJSON(t, "/clients/"+cc.ClientID+"/disable", "", stale),
			e.send(t, http.MethodDelete, "/clients/"+cc.ClientID, "", "", stale),
		} {
			r.checkError(t, http.StatusPreconditionFailed, "precondition_failed")
		}
		cur := e.read(t, cc.ClientID)
		if cur.Status != "enabled" || cur.Description != "moved on" {
			t.Fatalf("refused stale requests changed the client: %+v", cur)
		}
		e.tokenOK(t, cc.ClientID, cc.ClientSecret, "") // the secret was not rotated
		current := withHeader("If-Match", `"`+strconv.FormatUint(cur.Version, 10)+`"`)
		r := e.postJSON(t, "/clients/"+cc.ClientID+"/disable", "", current)
		r.requireStatus(t, http.StatusOK)
		e.postJSON(t, "/clients/"+cc.ClientID+"/enable", "", current).checkError(t, http.StatusPreconditionFailed, "precondition_failed")
		e.send(t, http.MethodDelete, "/clients/"+cc.ClientID, "", "", withHeader("If-Match", r.header.Get("ETag"))).requireStatus(t, http.StatusNoContent)
	})

	t.Run("type cannot change", func(t *testing.T) {
		before := e.read(t, c.ClientID)
		er := lcError(t, e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"type":"public","token_endpoint_auth_method":"none"}`),
			http.StatusBadRequest, "invalid_request")
		if !strings.Contains(er.Description, "type") {
			t.Errorf("type change refusal does not say why: %+v", er)
		}
		e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", `{"name":"x","type":"public"}`).
			checkError(t, http.StatusBadRequest, "invalid_request")
		if after := e.read(t, c.ClientID); after.Type != "confidential" || after.Version != before.Version {
			t.Errorf("refused type change changed the client: %+v", after)
		}
	})

	t.Run("concurrent PATCHes lose nothing", func(t *testing.T) {
		cc := e.create(t, `{"name":"conc","description":"init"}`)
		const n = 10
		start := make(chan struct{})
		results := make([]lcResult, 2*n)
		var wg sync.WaitGroup
		for i := range 2 * n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"description":"desc-%d"}`, i)
				if i >= n {
					body = fmt.Sprintf(`{"name":"name-%d"}`, i-n)
				}
				<-start
				results[i] = e.rawDo(http.MethodPatch, "/clients/"+cc.ClientID, merge, body)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, res := range results {
			switch {
			case res.err != nil:
				t.Errorf("PATCH %d: %v", i, res.err)
			case res.status != http.StatusOK:
				t.Errorf("PATCH %d without If-Match: HTTP %d %s, want 200 (a lost race must be decided again)", i, res.status, res.body)
			default:
				ok++
			}
		}
		final := e.read(t, cc.ClientID)
		var updates []eventView
		for _, ev := range e.allEvents(t).Events {
			if ev.Type == "client.updated" && ev.Aggregate == "client/"+cc.ClientID {
				updates = append(updates, ev)
			}
		}
		if len(updates) != ok {
			t.Errorf("client.updated events: %d, want one per effective change (%d)", len(updates), ok)
		}
		checkAdminMeta(t, updates, "client.updated")
		prevName, prevDesc := "conc", "init"
		var prevAfter map[string]any
		names, descs := map[string]bool{}, map[string]bool{}
		for i, ev := range updates {
			before, _ := ev.Data["before"].(map[string]any)
			after, _ := ev.Data["after"].(map[string]any)
			if before == nil || after == nil {
				t.Fatalf("client.updated without before and after: %v", ev.Data)
			}
			if prevAfter != nil && !reflect.DeepEqual(before, prevAfter) {
				t.Errorf("update %d starts from %v, not from the previous update's result %v: an update was lost", i, before, prevAfter)
			}
			if before["name"] != prevName || before["description"] != prevDesc {
				t.Errorf("update %d: before name %v description %v, want %s and %s", i, before["name"], before["description"], prevName, prevDesc)
			}
			var changed []string
			for k := range after {
				if !reflect.DeepEqual(before[k], after[k]) {
					changed = append(changed, k)
				}
			}
			if len(changed) != 1 || (changed[0] != "name" && changed[0] != "description") {
				t.Errorf("update %d changed %v, want exactly name or description", i, changed)
			}
			prevName, _ = after["name"].(string)
			prevDesc, _ = after["description"].(string)
			names[prevName], descs[prevDesc] = true, true
			prevAfter = after
		}
		if final.Name != prevName || final.Description != prevDesc {
			t.Errorf("final client name %q description %q, want the last set values %q and %q", final.Name, final.Description, prevName, prevDesc)
		}
		// Every accepted PATCH is in the history; a refused one is not.
		for i, res := range results {
			value, applied := fmt.Sprintf("desc-%d", i), descs
			if i >= n {
				value, applied = fmt.Sprintf("name-%d", i-n), names
			}
			if accepted := res.err == nil && res.status == http.StatusOK; accepted != applied[value] {
				t.Errorf("PATCH to %s: answered HTTP %d, but applied = %v", value, res.status, applied[value])
			}
		}
	})
}

// ---- 6: secret rotation ----

func TestClientSecretRotation(t *testing.T) {
	t.Parallel()
	e := lcStart(t, "clients-rotation")
	c := e.create(t, `{"name":"rot","scopes":["read"]}`)
	rs := e.create(t, `{"name":"resource server"}`)
	rotate := func(t *testing.T, body string) *response {
		t.Helper()
		if body == "" {
			return e.send(t, http.MethodPost, "/clients/"+c.ClientID+"/rotate-secret", "", "")
		}
		return e.postJSON(t, "/clients/"+c.ClientID+"/rotate-secret", body)
	}

	before := e.tokenOK(t, c.ClientID, c.ClientSecret, "")
	r := rotate(t, "")
	r.requireStatus(t, http.StatusOK)
	r.checkHeader(t, "Cache-Control", "no-store")
	rot := e.decodeClient(t, r)
	if !secretPattern.MatchString(rot.ClientSecret) || rot.ClientSecret == c.ClientSecret || rot.PreviousSecretExpiresAt != 0 {
		t.Fatalf("rotation without overlap: %+v", rot)
	}
	e.tokenRefused(t, c.ClientID, c.ClientSecret, "old secret right after rotation")
	e.tokenOK(t, c.ClientID, rot.ClientSecret, "")
	e.lk.requireActive(t, e.realm, rs.ClientID, rs.ClientSecret, before, "token issued before the rotation")
	if got := e.read(t, c.ClientID); got.PreviousSecretExpiresAt != 0 {
		t.Errorf("previous_secret_expires_at %d without overlap", got.PreviousSecretExpiresAt)
	}

	// With an overlap both work, until the old one expires.
	rotatedAt := time.Now()
	r = rotate(t, `{"previous_secret_expires_in": 2}`)
	r.requireStatus(t, http.StatusOK)
	overlap := e.decodeClient(t, r)
	if now := time.Now().Unix(); overlap.PreviousSecretExpiresAt < now+1 || overlap.PreviousSecretExpiresAt > now+3 {
		t.Errorf("previous_secret_expires_at %d, want about now+2 (%d)", overlap.PreviousSecretExpiresAt, now+2)
	}
	e.tokenOK(t, c.ClientID, rot.ClientSecret, "")
	e.tokenOK(t, c.ClientID, overlap.ClientSecret, "")
	if got := e.read(t, c.ClientID); got.PreviousSecretExpiresAt != overlap.PreviousSecretExpiresAt {
		t.Errorf("GET previous_secret_expires_at %d, want %d", got.PreviousSecretExpiresAt, overlap.PreviousSecretExpiresAt)
	}
	rotate(t, `{"previous_secret_expires_in": 700000}`).checkError(t, http.StatusBadRequest, "invalid_request")
	rotate(t, `{"previous_secret_expires_in": -1}`).checkError(t, http.StatusBadRequest, "invalid_request")
	rotate(t, `{"previous_secret_expires_in": 2, "extra": 1}`).checkError(t, http.StatusBadRequest, "invalid_request")
	e.postJSON(t, "/clients/00000000-0000-4000-8000-000000000000/rotate-secret", "").checkError(t, http.StatusNotFound, "not_found")
	time.Sleep(time.Until(time.Unix(overlap.PreviousSecretExpiresAt, 0)) + 100*time.Millisecond)
	if waited := time.Since(rotatedAt); waited > 3500*time.Millisecond {
		t.Errorf("overlap of 2 s lasted %s", waited)
	}
	e.tokenRefused(t, c.ClientID, rot.ClientSecret, "old secret after its overlap")
	e.tokenOK(t, c.ClientID, overlap.ClientSecret, "")
	if got := e.read(t, c.ClientID); got.PreviousSecretExpiresAt != 0 {
		t.Errorf("previous_secret_expires_at %d shown after it passed", got.PreviousSecretExpiresAt)
	}

	// Concurrent rotations: the winners' secrets are real, the losers get 409.
	const n = 5
	results := make([]lcResult, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = e.rawDo(http.MethodPost, "/clients/"+c.ClientID+"/rotate-secret", "", "")
		}()
	}
	close(start)
	wg.Wait()
	var winners []string
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("rotation %d: %v", i, res.err)
		}
		var body struct {
			Error        string  `json:"error"`
			ClientSecret *string `json:"client_secret"`
		}
		if err := json.Unmarshal(res.body, &body); err != nil {
			t.Fatalf("rotation %d: %v: %s", i, err, res.body)
		}
		switch res.status {
		case http.StatusOK:
			if body.ClientSecret == nil || !secretPattern.MatchString(*body.ClientSecret) {
				t.Errorf("rotation %d: 200 without a secret: %s", i, res.body)
				continue
			}
			winners = append(winners, *body.ClientSecret)
			e.addSecret(*body.ClientSecret)
		case http.StatusConflict:
			if body.ClientSecret != nil || body.Error != "conflict" {
				t.Errorf("rotation %d: 409 %s, want error conflict and no secret", i, res.body)
			}
		default:
			t.Errorf("rotation %d: HTTP %d %s, want 200 or 409", i, res.status, res.body)
		}
	}
	if len(winners) == 0 {
		t.Fatal("no concurrent rotation succeeded")
	}
	working := 0
	for _, s := range winners {
		if e.token(t, c.ClientID, s, "").status == http.StatusOK {
			working++
		}
	}
	if working != 1 {
		t.Errorf("%d of the %d returned secrets work, want exactly one (the last rotation's)", working, len(winners))
	}
	e.tokenRefused(t, c.ClientID, overlap.ClientSecret, "secret from before the concurrent rotations")
	t.Logf("concurrent rotations: %d of %d succeeded", len(winners), n)

	evs := e.allEvents(t).Events
	rotations := eventsOf(evs, "client.secret_rotated", "client/"+c.ClientID)
	if len(rotations) != 2+len(winners) {
		t.Errorf("client.secret_rotated events: %d, want %d", len(rotations), 2+len(winners))
	}
	checkAdminMeta(t, rotations, "client.secret_rotated")
	for _, ev := range rotations {
		if _, has := ev.Data["secret_hash"]; has {
			t.Errorf("secret_rotated event shows secret_hash: %v", ev.Data)
		}
	}
}

// ---- 7–8: disable, enable, delete, bulk delete ----

func TestClientDisableEnableDelete(t *testing.T) {
	t.Parallel()
	e := lcStart(t, "clients-status")
	c := e.create(t, `{"name":"svc","scopes":["read"]}`)
	rs := e.create(t, `{"name":"resource server"}`)
	introspector := func(t *testing.T, tok string) map[string]any {
		t.Helper()
		return e.lk.introspect(t, e.realm, rs.ClientID, rs.ClientSecret, tok)
	}

	t.Run("disable and enable", func(t *testing.T) {
		before := e.tokenOK(t, c.ClientID, c.ClientSecret, "")
		e.lk.requireActive(t, e.realm, rs.ClientID, rs.ClientSecret, before, "token before disabling")
		r := e.postJSON(t, "/clients/"+c.ClientID+"/disable", "")
		r.requireStatus(t, http.StatusOK)
		if got := e.decodeClient(t, r); got.Status != "disabled" {
			t.Errorf("after disable: status %q", got.Status)
		}
		e.lk.requireInactive(t, e.realm, rs.ClientID, rs.ClientSecret, before, "token of a disabled client")
		e.tokenRefused(t, c.ClientID, c.ClientSecret, "disabled client")
		if got := e.read(t, c.ClientID); got.Status != "disabled" {
			t.Errorf("GET disabled client: status %q", got.Status)
		}
		// Disabling twice is a no-op.
		e.postJSON(t, "/clients/"+c.ClientID+"/disable", "").requireStatus(t, http.StatusOK)
		// A disabled client cannot introspect either.
		e.lk.postForm(t, introspectPath(e.realm), url.Values{"token": {before}}.Encode(), withBasic(c.ClientID, c.ClientSecret)).
			checkError(t, http.StatusUnauthorized, "invalid_client")

		evs := e.allEvents(t).Events
		disabled := eventsOf(evs, "client.disabled", "client/"+c.ClientID)
		if len(disabled) != 1 {
			t.Fatalf("client.disabled events: %d, want 1 (disabling twice writes once)", len(disabled))
		}
		checkAdminMeta(t, disabled, "client.disabled")
		if cut, _ := disabled[0].Data["tokens_revoked_before"].(float64); cut < float64(time.Now().Unix()-60) {
			t.Errorf("client.disabled data %v: want tokens_revoked_before about now", disabled[0].Data)
		}

		r = e.postJSON(t, "/clients/"+c.ClientID+"/enable", "")
		r.requireStatus(t, http.StatusOK)
		if got := e.decodeClient(t, r); got.Status != "enabled" {
			t.Errorf("after enable: status %q", got.Status)
		}
		after := e.tokenOK(t, c.ClientID, c.ClientSecret, "")
		if got := introspector(t, after); got["active"] != true {
			t.Errorf("token after enabling is inactive: %v", got)
		}
		e.lk.requireInactive(t, e.realm, rs.ClientID, rs.ClientSecret, before, "token revoked by disabling, after enabling")
		checkAdminMeta(t, e.allEvents(t).Events, "client.enabled")
	})

	t.Run("status through PATCH", func(t *testing.T) {
		merge := "application/merge-patch+json"
		tok := e.tokenOK(t, c.ClientID, c.ClientSecret, "")
		r := e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"status":"disabled"}`)
		r.requireStatus(t, http.StatusOK)
		if got := e.decodeClient(t, r); got.Status != "disabled" {
			t.Errorf("PATCH status disabled: status %q", got.Status)
		}
		e.tokenRefused(t, c.ClientID, c.ClientSecret, "client disabled through PATCH")
		e.lk.requireInactive(t, e.realm, rs.ClientID, rs.ClientSecret, tok, "token of a client disabled through PATCH")
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"status":"paused"}`).checkError(t, http.StatusBadRequest, "invalid_request")
		r = e.send(t, http.MethodPatch, "/clients/"+c.ClientID, merge, `{"status":"enabled","description":"back"}`)
		r.requireStatus(t, http.StatusOK)
		if got := e.decodeClient(t, r); got.Status != "enabled" || got.Description != "back" {
			t.Errorf("PATCH status enabled with description: %+v", got)
		}
		e.tokenOK(t, c.ClientID, c.ClientSecret, "")
		d := e.create(t, `{"name":"born disabled","status":"disabled"}`)
		if d.Status != "disabled" {
			t.Errorf("created with status disabled: status %q", d.Status)
		}
		e.tokenRefused(t, d.ClientID, d.ClientSecret, "client created disabled")
		if n := len(eventsOf(e.allEvents(t).Events, "client.disabled", "client/"+c.ClientID)); n != 2 {
			t.Errorf("client.disabled events after PATCH: %d, want 2", n)
		}
	})

	t.Run("delete", func(t *testing.T) {
		d := e.create(t, `{"name":"doomed"}`)
		tok := e.tokenOK(t, d.ClientID, d.ClientSecret, "")
		e.send(t, http.MethodDelete, "/clients/"+d.ClientID, "", "").requireStatus(t, http.StatusNoContent)
		e.get(t, "/clients/"+d.ClientID).checkError(t, http.StatusNotFound, "not_found")
		e.lk.requireInactive(t, e.realm, rs.ClientID, rs.ClientSecret, tok, "token of a deleted client")
		e.tokenRefused(t, d.ClientID, d.ClientSecret, "deleted client")
		e.send(t, http.MethodDelete, "/clients/"+d.ClientID, "", "").checkError(t, http.StatusNotFound, "not_found")
		// A deleted client's id is never used again, even by a PUT.
		e.send(t, http.MethodPut, "/clients/"+d.ClientID, "application/json", `{"name":"zombie"}`).checkError(t, http.StatusNotFound, "not_found")
		deleted := eventsOf(e.allEvents(t).Events, "client.deleted", "client/"+d.ClientID)
		if len(deleted) != 1 {
			t.Fatalf("client.deleted events for %s: %d, want 1", d.ClientID, len(deleted))
		}
		checkAdminMeta(t, deleted, "client.deleted")
	})

	t.Run("bulk delete", func(t *testing.T) {
		a := e.create(t, `{"name":"a"}`)
		b := e.create(t, `{"name":"b"}`)
		tokA := e.tokenOK(t, a.ClientID, a.ClientSecret, "")
		const ghost = "00000000-0000-4000-8000-000000000000"
		r := e.postJSON(t, "/clients/bulk-delete", fmt.Sprintf(`{"ids":[%q,%q,%q]}`, a.ClientID, b.ClientID, ghost))
		er := lcError(t, r, http.StatusNotFound, "not_found")
		if !slices.Equal(er.MissingIDs, []string{ghost}) {
			t.Errorf("missing_ids = %q, want only %s:\n%s", er.MissingIDs, ghost, r)
		}
		e.read(t, a.ClientID)
		e.read(t, b.ClientID)
		e.lk.requireActive(t, e.realm, rs.ClientID, rs.ClientSecret, tokA, "token of a client a refused bulk delete named")

		r = e.postJSON(t, "/clients/bulk-delete", fmt.Sprintf(`{"ids":[%q,%q]}`, a.ClientID, b.ClientID))
		r.requireStatus(t, http.StatusOK)
		var out map[string]any
		r.decode(t, &out)
		if !reflect.DeepEqual(out, map[string]any{"deleted": 2.0}) {
			t.Errorf("bulk delete answer %v, want {deleted: 2}", out)
		}
		for _, id := range []string{a.ClientID, b.ClientID} {
			e.get(t, "/clients/"+id).checkError(t, http.StatusNotFound, "not_found")
		}
		e.lk.requireInactive(t, e.realm, rs.ClientID, rs.ClientSecret, tokA, "token of a bulk-deleted client")
		e.tokenRefused(t, a.ClientID, a.ClientSecret, "bulk-deleted client")

		ids := make([]string, 501)
		for i := range ids {
			ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		}
		body, _ := json.Marshal(map[string]any{"ids": ids})
		e.postJSON(t, "/clients/bulk-delete", string(body)).checkError(t, http.StatusBadRequest, "invalid_request")
		e.postJSON(t, "/clients/bulk-delete", `{"ids":[]}`).checkError(t, http.StatusBadRequest, "invalid_request")
		e.postJSON(t, "/clients/bulk-delete", `{}`).checkError(t, http.StatusBadRequest, "invalid_request")

		evs := e.allEvents(t).Events
		var gone []string
		for _, ev := range eventsOf(evs, "client.deleted", "") {
			gone = append(gone, strings.TrimPrefix(ev.Aggregate, "client/"))
		}
		if !slices.Contains(gone, a.ClientID) || !slices.Contains(gone, b.ClientID) || len(gone) != 3 {
			t.Errorf("client.deleted events for %v, want the doomed client, %s and %s", gone, a.ClientID, b.ClientID)
		}
		checkAdminMeta(t, evs, "client.deleted")
	})
}

// ---- 9: nodes and how they scope service tokens ----

func TestNodesAndClientScoping(t *testing.T) {
	t.Parallel()
	e := lcStart(t, "clients-nodes")

	t.Run("tree", func(t *testing.T) {
		for _, n := range []string{
			`{"slug":"acme-org","name":"Acme","kind":"organization"}`,
			`{"slug":"team-a","kind":"team","parent":"acme-org"}`,
			`{"slug":"team-b","kind":"team","parent":"acme-org"}`,
			`{"slug":"proj","kind":"project"}`,
			`{"slug":"app-1","kind":"app","parent":"proj"}`,
			`{"slug":"app-2","kind":"app","parent":"proj"}`,
		} {
			r := e.postJSON(t, "/nodes", n)
			r.requireStatus(t, http.StatusCreated)
			var v struct {
				Slug string `json:"slug"`
			}
			r.decode(t, &v)
			r.checkHeader(t, "Location", e.path("/nodes/"+v.Slug))
		}
		for _, bad := range []string{
			`{"slug":"lonely","kind":"team"}`,
			`{"slug":"misplaced","kind":"app","parent":"acme-org"}`,
			`{"slug":"sub-org","kind":"organization","parent":"acme-org"}`,
			`{"slug":"team-in-team","kind":"team","parent":"team-a"}`,
			`{"slug":"galaxy","kind":"galaxy"}`,
			`{"slug":"Bad.Slug","kind":"project"}`,
		} {
			e.postJSON(t, "/nodes", bad).checkError(t, http.StatusBadRequest, "invalid_request")
		}
		e.postJSON(t, "/nodes", `{"slug":"acme-org","kind":"organization"}`).checkError(t, http.StatusConflict, "conflict")

		r := e.send(t, http.MethodPatch, "/nodes/team-a", "application/json", `{"name":"Team A"}`)
		r.requireStatus(t, http.StatusOK)
		var v struct {
			Name   string `json:"name"`
			Kind   string `json:"kind"`
			Parent string `json:"parent"`
		}
		r.decode(t, &v)
		if v.Name != "Team A" || v.Kind != "team" || v.Parent != "acme-org" {
			t.Errorf("renamed node = %+v", v)
		}
		e.get(t, "/nodes/team-a").decode(t, &v)
		if v.Name != "Team A" {
			t.Errorf("GET renamed node: %+v", v)
		}
		e.get(t, "/nodes/nowhere").checkError(t, http.StatusNotFound, "not_found")
		e.send(t, http.MethodDelete, "/nodes/acme-org", "", "").checkError(t, http.StatusConflict, "conflict")
		e.send(t, http.MethodDelete, "/nodes/proj", "", "").checkError(t, http.StatusConflict, "conflict")

		r = e.get(t, "/nodes")
		r.requireStatus(t, http.StatusOK)
		var list struct {
			Nodes []struct {
				Slug string `json:"slug"`
			} `json:"nodes"`
		}
		r.decode(t, &list)
		var slugs []string
		for _, n := range list.Nodes {
			slugs = append(slugs, n.Slug)
		}
		if want := []string{"acme-org", "proj", "app-1", "app-2", "team-a", "team-b"}; !slices.Equal(slugs, want) {
			t.Errorf("nodes = %v, want %v (roots first)", slugs, want)
		}
	})

	var nodeClient lcClient
	t.Run("node credentials", func(t *testing.T) {
		r := e.postJSON(t, "/nodes/app-1/client-credentials", `{"scope":"consumer"}`)
		r.requireStatus(t, http.StatusCreated)
		nodeClient = e.decodeClient(t, r)
		c := nodeClient
		if c.Kind != "service" || c.OwnerNode != "app-1" || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) ||
			!slices.Equal(c.Scopes, []string{"consumer"}) || c.AccessPreset != "read_only" ||
			!slices.Equal(c.Roles, []lcRole{{"app-1", "viewer"}}) || !secretPattern.MatchString(c.ClientSecret) {
			t.Errorf("node credentials client = %+v", c)
		}
		r.checkHeader(t, "Location", e.path("/clients/"+c.ClientID))

		tok := e.tokenOK(t, c.ClientID, c.ClientSecret, "")
		claims := lcClaims(t, tok)
		if !slices.Equal(strs(claims["nodes"]), []string{"app-1"}) || claims["preset"] != "read_only" || claims["scope"] != "consumer" {
			t.Errorf("node credentials token claims: nodes %v preset %v scope %v", claims["nodes"], claims["preset"], claims["scope"])
		}
		in := e.lk.requireActive(t, e.realm, c.ClientID, c.ClientSecret, tok, "node credentials token")
		if !slices.Equal(strs(in["nodes"]), []string{"app-1"}) || in["preset"] != "read_only" {
			t.Errorf("introspection of a node token: %v", in)
		}
		e.token(t, c.ClientID, c.ClientSecret, "tenant:app-2").checkError(t, http.StatusBadRequest, "invalid_scope")
		e.token(t, c.ClientID, c.ClientSecret, "tenant:proj").checkError(t, http.StatusBadRequest, "invalid_scope")
		narrowed := e.tokenOK(t, c.ClientID, c.ClientSecret, "tenant:app-1")
		if got := strs(lcClaims(t, narrowed)["nodes"]); !slices.Equal(got, []string{"app-1"}) {
			t.Errorf("tenant:app-1 token nodes %v", got)
		}

		r = e.postJSON(t, "/nodes/proj/client-credentials", `{"scope":"management","name":"proj admin"}`)
		r.requireStatus(t, http.StatusCreated)
		m := e.decodeClient(t, r)
		if m.AccessPreset != "full" || !slices.Equal(m.Roles, []lcRole{{"proj", "admin"}}) || m.Name != "proj admin" {
			t.Errorf("management node credentials = %+v", m)
		}
		e.postJSON(t, "/nodes/app-1/client-credentials", `{"scope":"read"}`).checkError(t, http.StatusBadRequest, "invalid_request")
		e.postJSON(t, "/nodes/nowhere/client-credentials", `{"scope":"consumer"}`).checkError(t, http.StatusNotFound, "not_found")
		// An owned client's roles stay inside its owner node.
		r = e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "application/merge-patch+json", `{"roles":[{"node":"app-2","role":"viewer"}]}`)
		requireDetails(t, r, `"app-2"`)
	})

	t.Run("roles and team restrictions", func(t *testing.T) {
		c := e.create(t, `{"name":"restricted","scopes":["read"],"roles":[{"node":"acme-org","role":"viewer"}],"team_restrictions":["team-a"]}`)
		// The role holds on acme-org and everything under it; the
		// restriction narrows that to team-a.
		tok := e.token(t, c.ClientID, c.ClientSecret, "")
		if tok.checkStatus(t, http.StatusOK) {
			var body struct {
				AccessToken string `json:"access_token"`
			}
			tok.decode(t, &body)
			if got := strs(lcClaims(t, body.AccessToken)["nodes"]); !slices.Equal(got, []string{"team-a"}) {
				t.Errorf("token of a client with viewer on acme-org restricted to team-a: nodes %v, want [team-a]", got)
			}
		}
		r := e.token(t, c.ClientID, c.ClientSecret, "team:team-a")
		if r.checkStatus(t, http.StatusOK) {
			var body struct {
				AccessToken string `json:"access_token"`
			}
			r.decode(t, &body)
			if got := strs(lcClaims(t, body.AccessToken)["nodes"]); !slices.Equal(got, []string{"team-a"}) {
				t.Errorf("team:team-a token nodes %v, want [team-a]", got)
			}
		}
		e.token(t, c.ClientID, c.ClientSecret, "team:team-b").checkError(t, http.StatusBadRequest, "invalid_scope")
		e.token(t, c.ClientID, c.ClientSecret, "tenant:acme-org").checkError(t, http.StatusBadRequest, "invalid_scope")
		e.token(t, c.ClientID, c.ClientSecret, "tenant:app-1").checkError(t, http.StatusBadRequest, "invalid_scope")

		e.send(t, http.MethodDelete, "/nodes/team-a", "", "").checkError(t, http.StatusConflict, "conflict")

		// SeaCat Auth's attributes, on a PUT: only in a realm with the
		// seacat profile on.
		seacatPut := `{"client_name":"sc","seacatauth_credentials":true,"token_endpoint_auth_method":"client_secret_post","tenants":["acme-org"],"roles":["acme-org/editor"]}`
		for body, why := range map[string]string{
			seacatPut: "client_name is SeaCat Auth's attribute: turn on the realm's seacat profile (compat) to use it",
			`{"name":"x","roles":["acme-org/editor"]}`: `roles written "node/role" are SeaCat Auth's form`,
		} {
			if e := lcError(t, e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", body), http.StatusBadRequest, "invalid_request"); !strings.Contains(e.Description, why) {
				t.Errorf("SeaCat names without the profile: %q, want it to say %q", e.Description, why)
			}
		}
		e.send(t, http.MethodPatch, "/settings", "application/json", `{"compat":["seacat"]}`).requireStatus(t, http.StatusOK)
		r = e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", seacatPut)
		r.requireStatus(t, http.StatusOK)
		sc := e.decodeClient(t, r)
		if sc.Name != "sc" || !slices.Equal(sc.GrantTypes, []string{"client_credentials"}) || sc.TokenEndpointAuthMethod != "client_secret_post" ||
			!slices.Equal(sc.TeamRestrictions, []string{"acme-org"}) || !slices.Equal(sc.Roles, []lcRole{{"acme-org", "editor"}}) {
			t.Errorf("client after the SeaCat PUT = %+v", sc)
		}
		postTok := func(scope string) *response {
			return e.lk.postForm(t, tokenPath(e.realm), url.Values{
				"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "scope": {scope},
			}.Encode())
		}
		tr := requireToken(t, postTok("tenant:team-a"))
		if got := strs(lcClaims(t, tr.AccessToken)["nodes"]); !slices.Equal(got, []string{"team-a"}) {
			t.Errorf("SeaCat client tenant:team-a token nodes %v", got)
		}
		tr = requireToken(t, postTok(""))
		if got := strs(lcClaims(t, tr.AccessToken)["nodes"]); !slices.Equal(got, []string{"acme-org"}) {
			t.Errorf("SeaCat client token nodes %v, want [acme-org]", got)
		}
		postTok("tenant:proj").checkError(t, http.StatusBadRequest, "invalid_scope")
		// On a PATCH, SeaCat's names replace the settings as Latchkey's do.
		r = e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "application/merge-patch+json", `{"client_name":"sc2","tenants":["team-b"]}`)
		r.requireStatus(t, http.StatusOK)
		if sc := e.decodeClient(t, r); sc.Name != "sc2" || !slices.Equal(sc.TeamRestrictions, []string{"team-b"}) {
			t.Errorf("after PATCH {client_name, tenants}: name %q, team_restrictions %v", sc.Name, sc.TeamRestrictions)
		}
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "application/merge-patch+json", `{"tenants":["acme-org"]}`).requireStatus(t, http.StatusOK)
		e.send(t, http.MethodPatch, "/clients/"+c.ClientID, "application/merge-patch+json", `{"name":"a","client_name":"b"}`).
			checkError(t, http.StatusBadRequest, "invalid_request")
		e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", `{"name":"x","roles":["acme-org"]}`).
			checkError(t, http.StatusBadRequest, "invalid_request")
		e.send(t, http.MethodPut, "/clients/"+c.ClientID, "application/json", `{"name":"x","tenants":["acme-org"],"team_restrictions":["acme-org"]}`).
			checkError(t, http.StatusBadRequest, "invalid_request")
		// The PUT replaced the restriction to team-a: it is free to go now.
		e.send(t, http.MethodDelete, "/nodes/team-a", "", "").requireStatus(t, http.StatusNoContent)
		e.send(t, http.MethodDelete, "/nodes/acme-org", "", "").checkError(t, http.StatusConflict, "conflict")
	})

	t.Run("reach and preset of service tokens", func(t *testing.T) {
		nodesAndPreset := func(c lcClient, scope string) ([]string, any) {
			t.Helper()
			claims := lcClaims(t, e.tokenOK(t, c.ClientID, c.ClientSecret, scope))
			return strs(claims["nodes"]), claims["preset"]
		}
		// Without roles, an owner node is kept within the team restrictions.
		owned := e.create(t, `{"name":"owned restricted","scopes":["read"],"owner_node":"acme-org","team_restrictions":["team-b"]}`)
		if got, _ := nodesAndPreset(owned, ""); !slices.Equal(got, []string{"team-b"}) {
			t.Errorf("owner acme-org restricted to team-b: nodes %v, want [team-b]", got)
		}
		e.token(t, owned.ClientID, owned.ClientSecret, "team:team-a").checkError(t, http.StatusBadRequest, "invalid_scope")
		e.token(t, owned.ClientID, owned.ClientSecret, "tenant:").checkError(t, http.StatusBadRequest, "invalid_scope")
		restricted := e.create(t, `{"name":"restricted only","scopes":["read"],"team_restrictions":["team-b"]}`)
		if got, _ := nodesAndPreset(restricted, ""); !slices.Equal(got, []string{"team-b"}) {
			t.Errorf("restricted to team-b, no roles: nodes %v, want [team-b]", got)
		}
		// Roles that the restrictions leave nothing of give no token, not
		// an unlimited one.
		nowhere := e.create(t, `{"name":"nowhere","scopes":["read"],"roles":[{"node":"proj","role":"editor"}],"team_restrictions":["team-b"]}`)
		e.token(t, nowhere.ClientID, nowhere.ClientSecret, "").checkError(t, http.StatusBadRequest, "invalid_scope")

		// A viewer reads, whatever the client's preset says.
		mixed := e.create(t, `{"name":"mixed roles","scopes":["read"],"access_preset":"full","roles":[{"node":"team-b","role":"viewer"},{"node":"proj","role":"editor"}]}`)
		if nodes, preset := nodesAndPreset(mixed, ""); !slices.Equal(nodes, []string{"team-b", "proj"}) || preset != "read_only" {
			t.Errorf("viewer on team-b, editor on proj, preset full: nodes %v preset %v, want read_only", nodes, preset)
		}
		if _, preset := nodesAndPreset(mixed, "tenant:proj"); preset != "full" {
			t.Errorf("narrowed to proj (editor): preset %v, want full", preset)
		}
		if _, preset := nodesAndPreset(mixed, "team:team-b"); preset != "read_only" {
			t.Errorf("narrowed to team-b (viewer): preset %v, want read_only", preset)
		}

		// Only a management client without roles, owner or restrictions
		// administers the realm.
		limited := e.create(t, `{"name":"limited admin","scopes":["management"],"roles":[{"node":"proj","role":"viewer"}]}`)
		tok := e.tokenOK(t, limited.ClientID, limited.ClientSecret, "management")
		r := e.lk.postJSON(t, e.path("/clients"), `{"name":"escalated","scopes":["management"]}`, withBearer(tok))
		r.checkError(t, http.StatusForbidden, "insufficient_scope")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("403 for a node-bound management token: WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
		}
	})

	t.Run("referenced nodes", func(t *testing.T) {
		if nodeClient.ClientID == "" {
			t.Skip("no node credentials client")
		}
		e.send(t, http.MethodDelete, "/nodes/app-1", "", "").checkError(t, http.StatusConflict, "conflict")
		e.send(t, http.MethodDelete, "/clients/"+nodeClient.ClientID, "", "").requireStatus(t, http.StatusNoContent)
		e.send(t, http.MethodDelete, "/nodes/app-1", "", "").requireStatus(t, http.StatusNoContent)
		e.get(t, "/nodes/app-1").checkError(t, http.StatusNotFound, "not_found")
		e.send(t, http.MethodDelete, "/nodes/app-1", "", "").checkError(t, http.StatusNotFound, "not_found")
		requireDetails(t, e.postJSON(t, "/clients", `{"name":"x","roles":[{"node":"app-1","role":"viewer"}]}`), `"app-1"`)
	})

	evs := e.allEvents(t).Events
	checkAdminMeta(t, evs, "node.created", "node.renamed", "node.deleted", "client.created", "client.updated", "client.deleted")
	if n := len(eventsOf(evs, "node.created", "")); n != 6 {
		t.Errorf("node.created events: %d, want 6", n)
	}
	for _, ev := range eventsOf(evs, "node.created", "") {
		if ev.Aggregate != "node/"+fmt.Sprint(ev.Data["slug"]) {
			t.Errorf("node.created aggregate %q data %v", ev.Aggregate, ev.Data)
		}
	}
}

// A node or scope removed while a client naming it is created: one of the
// two must lose, never both win.
func TestRemovalsNeverRacePastAReference(t *testing.T) {
	t.Parallel()
	e := lcStart(t, "clients-races")
	race := func(create, remove func() *response) (created, removed bool) {
		var c, r *response
		var wg sync.WaitGroup
		wg.Go(func() { c = create() })
		wg.Go(func() { r = remove() })
		wg.Wait()
		return c.status == http.StatusCreated, r.status == http.StatusNoContent
	}
	for i := range 25 {
		slug := fmt.Sprintf("race-%d", i)
		e.postJSON(t, "/nodes", `{"slug":"`+slug+`","kind":"project"}`).requireStatus(t, http.StatusCreated)
		if c, r := race(
			func() *response { return e.postJSON(t, "/clients", `{"name":"owned","owner_node":"`+slug+`"}`) },
			func() *response { return e.send(t, http.MethodDelete, "/nodes/"+slug, "", "") },
		); c && r {
			t.Fatalf("round %d: a client owned by node %s was created and the node deleted", i, slug)
		}
		scope := fmt.Sprintf("race-scope-%d", i)
		e.send(t, http.MethodPut, "/scopes/"+scope, "application/json", `{"description":"Racing"}`).requireStatus(t, http.StatusOK)
		if c, r := race(
			func() *response { return e.postJSON(t, "/clients", `{"name":"scoped","scopes":["`+scope+`"]}`) },
			func() *response { return e.send(t, http.MethodDelete, "/scopes/"+scope, "", "") },
		); c && r {
			t.Fatalf("round %d: a client with scope %s was created and the scope removed", i, scope)
		}
	}
}

// ---- 10: listing ----

func TestClientList(t *testing.T) {
	t.Parallel()
	e := lcStart(t, "clients-list")
	e.postJSON(t, "/nodes", `{"slug":"acme-org","kind":"organization"}`).requireStatus(t, http.StatusCreated)
	e.postJSON(t, "/nodes", `{"slug":"team-a","kind":"team","parent":"acme-org"}`).requireStatus(t, http.StatusCreated)
	c1 := e.create(t, `{"name":"Alpha Service","scopes":["read"]}`)
	c2 := e.create(t, `{"name":"beta-app","type":"public","redirect_uris":["https://beta.example.com/cb"]}`)
	c3 := e.create(t, `{"name":"Gamma","scopes":["write"],"team_restrictions":["team-a"]}`)
	c4 := e.create(t, `{"name":"the ALPHA two","scopes":["read","write"]}`)
	c5 := e.create(t, `{"name":"delta","status":"disabled"}`)
	e.postJSON(t, "/clients/"+c3.ClientID+"/disable", "").requireStatus(t, http.StatusOK)
	gone := e.create(t, `{"name":"alpha gone","scopes":["read"]}`)
	e.send(t, http.MethodDelete, "/clients/"+gone.ClientID, "", "").requireStatus(t, http.StatusNoContent)

	// A filter or limit named twice, or a query it cannot read, is refused
	// on every admin list rather than half applied.
	for _, q := range []string{
		"/clients?status=enabled&status=disabled", "/clients?limit=1&limit=2", "/clients?q=%zz",
		"/sessions?status=active&status=revoked", "/audit?type=client.&type=token.", "/users?q=a&q=b",
	} {
		e.get(t, q).checkError(t, http.StatusBadRequest, "invalid_request")
	}

	type page struct {
		Clients    []lcClient `json:"clients"`
		NextCursor string     `json:"next_cursor"`
		Total      int        `json:"total"`
		Enabled    int        `json:"enabled"`
		Disabled   int        `json:"disabled"`
	}
	list := func(t *testing.T, query string) page {
		t.Helper()
		r := e.get(t, "/clients?"+query)
		r.requireStatus(t, http.StatusOK)
		requireNoSecrets(t, "client list", r.body, e.allSecrets()...)
		var p page
		r.decode(t, &p)
		return p
	}
	ids := func(cs []lcClient) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.ClientID)
		}
		return out
	}
	for _, tc := range []struct {
		query                    string
		want                     []lcClient
		total, enabled, disabled int
	}{
		{"", []lcClient{c1, c2, c3, c4, c5}, 5, 3, 2},
		{"status=disabled", []lcClient{c3, c5}, 2, 0, 2},
		{"status=enabled", []lcClient{c1, c2, c4}, 3, 3, 0},
		{"kind=user_app", []lcClient{c2}, 1, 1, 0},
		{"scope=read", []lcClient{c1, c4}, 2, 2, 0},
		{"team_restriction=team-a", []lcClient{c3}, 1, 0, 1},
		{"q=alpha", []lcClient{c1, c4}, 2, 2, 0},
		{"q=ALPHA%20S", []lcClient{c1}, 1, 1, 0},
		{"scope=write&status=enabled", []lcClient{c4}, 1, 1, 0},
		{"q=nothing-matches", nil, 0, 0, 0},
	} {
		p := list(t, tc.query)
		if got, want := ids(p.Clients), ids(tc.want); !slices.Equal(got, want) || p.NextCursor != "" {
			t.Errorf("?%s: clients %v (next %q), want %v", tc.query, got, p.NextCursor, want)
		}
		if p.Total != tc.total || p.Enabled != tc.enabled || p.Disabled != tc.disabled {
			t.Errorf("?%s: total/enabled/disabled %d/%d/%d, want %d/%d/%d", tc.query, p.Total, p.Enabled, p.Disabled, tc.total, tc.enabled, tc.disabled)
		}
	}

	// Pagination returns every client once, in creation order.
	for _, tc := range []struct {
		query string
		want  []lcClient
	}{
		{"limit=2", []lcClient{c1, c2, c3, c4, c5}},
		{"limit=1&scope=read", []lcClient{c1, c4}},
		{"limit=5", []lcClient{c1, c2, c3, c4, c5}},
	} {
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("?%s: pagination does not end", tc.query)
			}
			q := tc.query
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			p := list(t, q)
			seen = append(seen, ids(p.Clients)...)
			if p.Total != len(tc.want) {
				t.Errorf("?%s: total %d, want %d", q, p.Total, len(tc.want))
			}
			if p.NextCursor == "" {
				break
			}
			if len(p.Clients) == 0 || p.NextCursor != p.Clients[len(p.Clients)-1].ClientID {
				t.Errorf("?%s: next_cursor %q is not the page's last client", q, p.NextCursor)
			}
			cursor = p.NextCursor
		}
		if want := ids(tc.want); !slices.Equal(seen, want) {
			t.Errorf("?%s pages: %v, want %v", tc.query, seen, want)
		}
	}
	for _, q := range []string{"cursor=00000000-0000-4000-8000-000000000000", "cursor=not-a-client", "limit=0", "limit=1001", "limit=x", "status=weird", "kind=weird"} {
		e.get(t, "/clients?"+q).checkError(t, http.StatusBadRequest, "invalid_request")
	}
	// A cursor naming a client deleted since goes on from its place: gone
	// was the last client, so nothing follows it.
	if p := list(t, "cursor="+gone.ClientID); len(p.Clients) != 0 || p.Total != 5 {
		t.Errorf("cursor of the deleted last client: %v of %d, want none of 5", ids(p.Clients), p.Total)
	}
	// A listing under way when its cursor's client, and the one before it,
	// are deleted (a bulk delete) goes on where it was.
	first := list(t, "limit=2")
	if !slices.Equal(ids(first.Clients), ids([]lcClient{c1, c2})) || first.NextCursor != c2.ClientID {
		t.Fatalf("first page %v next %q, want c1 c2 next c2", ids(first.Clients), first.NextCursor)
	}
	for _, c := range []lcClient{c2, c1} {
		e.send(t, http.MethodDelete, "/clients/"+c.ClientID, "", "").requireStatus(t, http.StatusNoContent)
	}
	if next := list(t, "limit=2&cursor="+first.NextCursor); !slices.Equal(ids(next.Clients), ids([]lcClient{c3, c4})) {
		t.Errorf("page after a deleted cursor: %v, want c3 c4", ids(next.Clients))
	}
	e.allEvents(t)
}
