package main

// Black-box end-to-end tests: the real binary, over real HTTP.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// eventView is one entry of GET /admin/realms/{realm}/events.
type eventView struct {
	Seq       uint64         `json:"seq"`
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Aggregate string         `json:"aggregate"`
	Actor     string         `json:"actor"`
	ClientID  string         `json:"client_id"`
	RequestID string         `json:"request_id"`
	IP        string         `json:"ip"`
	Via       string         `json:"via"`
	Time      string         `json:"time"`
	Data      map[string]any `json:"data"`
}

// eventsPage is one page of events, decoded and raw.
type eventsPage struct {
	Events       []eventView
	Raw          []json.RawMessage
	NextAfterSeq uint64
	resp         *response
}

func (lk *latchkey) events(t *testing.T, token, realm, query string) eventsPage {
	t.Helper()
	r := lk.get(t, "/admin/realms/"+realm+"/events?"+query, withBearer(token))
	r.requireStatus(t, http.StatusOK)
	var raw struct {
		Events       []json.RawMessage `json:"events"`
		NextAfterSeq *uint64           `json:"next_after_seq"`
	}
	r.decode(t, &raw)
	if raw.Events == nil || raw.NextAfterSeq == nil {
		t.Fatalf("events page lacks events or next_after_seq:\n%s", r)
	}
	p := eventsPage{Raw: raw.Events, NextAfterSeq: *raw.NextAfterSeq, resp: r}
	for _, e := range raw.Events {
		var v eventView
		if err := json.Unmarshal(e, &v); err != nil {
			t.Fatalf("decoding event %s: %v", e, err)
		}
		p.Events = append(p.Events, v)
	}
	return p
}

// countEvents counts the events of one type on a realm's stream, over every
// page.
func (lk *latchkey) countEvents(t *testing.T, token, realm, typ string) int {
	t.Helper()
	n := 0
	for after := uint64(0); ; {
		page := lk.events(t, token, realm, "limit=1000&after_seq="+strconv.FormatUint(after, 10))
		if len(page.Events) == 0 {
			return n
		}
		n += countTypes(page.Events)[typ]
		after = page.NextAfterSeq
	}
}

func countTypes(evs []eventView) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		out[e.Type]++
	}
	return out
}

func hashHex(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// requireNoSecrets fails if body shows any secret, its SHA-256 hex (either
// case), a secret_hash field or private key material.
func requireNoSecrets(t *testing.T, what string, body []byte, secrets ...string) {
	t.Helper()
	s := string(body)
	for _, sec := range secrets {
		h := hashHex(sec)
		for _, bad := range []string{sec, h, strings.ToUpper(h)} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains a client secret or its SHA-256 (%q):\n%s", what, bad, s)
			}
		}
	}
	for _, bad := range []string{"secret_hash", `"client_secret":`, `"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`, "PRIVATE KEY"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s contains %s:\n%s", what, bad, s)
		}
	}
}

type clientCreated struct {
	ClientID            string   `json:"client_id"`
	ClientSecret        string   `json:"client_secret"`
	Name                string   `json:"name"`
	Type                string   `json:"type"`
	GrantTypes          []string `json:"grant_types"`
	Scopes              []string `json:"scopes"`
	AccessTokenLifetime int64    `json:"access_token_lifetime"`
}

// createClient creates a client through the admin API and checks the
// one-time answer.
func (lk *latchkey) createClient(t *testing.T, admin, realm, body string) clientCreated {
	t.Helper()
	r := lk.postJSON(t, "/admin/realms/"+realm+"/clients", body, withBearer(admin))
	r.requireStatus(t, http.StatusCreated)
	var c clientCreated
	r.decode(t, &c)
	if !uuidPattern.MatchString(c.ClientID) {
		t.Errorf("client_id %q is not a UUID:\n%s", c.ClientID, r)
	}
	if !secretPattern.MatchString(c.ClientSecret) {
		t.Errorf("client_secret %q is not 43 base64url characters:\n%s", c.ClientSecret, r)
	}
	r.checkHeader(t, "Location", "/admin/realms/"+realm+"/clients/"+c.ClientID)
	r.checkHeader(t, "Cache-Control", "no-store")
	if strings.Contains(string(r.body), "secret_hash") || strings.Contains(string(r.body), hashHex(c.ClientSecret)) {
		t.Errorf("client creation answer shows the secret hash:\n%s", r)
	}
	return c
}

func realmNames(t *testing.T, lk *latchkey, admin string) []string {
	t.Helper()
	r := lk.get(t, "/admin/realms", withBearer(admin))
	r.requireStatus(t, http.StatusOK)
	var body struct {
		Realms []struct {
			Name string `json:"name"`
		} `json:"realms"`
	}
	r.decode(t, &body)
	var names []string
	for _, rl := range body.Realms {
		names = append(names, rl.Name)
	}
	slices.Sort(names)
	return names
}

func TestFoundationWalkthrough(t *testing.T) {
	t.Parallel()
	start := time.Now()
	lk := startLatchkey(t, serverOpts{name: "walkthrough", data: t.TempDir()})
	acmeIssuer := lk.base + "/realms/acme"

	// ---- first start without LATCHKEY_BOOTSTRAP_CLIENT_SECRET ----
	bootPath := filepath.Join(lk.data, "bootstrap-admin.json")
	fi, err := os.Stat(bootPath)
	if err != nil {
		t.Fatalf("bootstrap file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %o, want 600", bootPath, mode)
	}
	rawBoot, err := os.ReadFile(bootPath)
	if err != nil {
		t.Fatal(err)
	}
	var boot struct {
		ClientID      string `json:"client_id"`
		ClientSecret  string `json:"client_secret"`
		TokenEndpoint string `json:"token_endpoint"`
		AdminUsername string `json:"admin_username"`
		AdminPassword string `json:"admin_password"`
		ConsoleURL    string `json:"console_url"`
	}
	if err := json.Unmarshal(rawBoot, &boot); err != nil {
		t.Fatalf("bootstrap file is not JSON: %v\n%s", err, rawBoot)
	}
	if boot.ClientID != "latchkey-admin" || boot.TokenEndpoint != lk.base+"/realms/master/protocol/openid-connect/token" {
		t.Errorf("bootstrap file = %s", rawBoot)
	}
	if !secretPattern.MatchString(boot.ClientSecret) {
		t.Fatalf("bootstrap secret %q is not 43 base64url characters", boot.ClientSecret)
	}
	// The first administrator, for the console: the generated password
	// is in the file, printed once, and signs in to master's console.
	if boot.AdminUsername != "admin" || !secretPattern.MatchString(boot.AdminPassword) || boot.ConsoleURL != lk.base+"/console/master/" {
		t.Errorf("bootstrap file's administrator: %s", rawBoot)
	}
	lk.waitStderr(t, boot.AdminPassword, 5*time.Second)
	if n := strings.Count(lk.stderr.String(), boot.AdminPassword); n != 1 {
		t.Errorf("generated admin password appears %d times on stderr, want exactly once", n)
	}
	consoleSignIn(t, lk, "master", "admin", boot.AdminPassword)
	adminSecret := boot.ClientSecret
	// The process wrote the banner before /readyz turned 200, but stderr
	// reaches the buffer through a pipe: give the copy a moment.
	lk.waitStderr(t, adminSecret, 5*time.Second)
	if n := strings.Count(lk.stderr.String(), adminSecret); n != 1 {
		t.Errorf("generated admin secret appears %d times on stderr, want exactly once:\n%s", n, lk.stderr.String())
	}

	// ---- 1. admin token ----
	adminTok := lk.adminToken(t, adminSecret)
	admin := adminTok.AccessToken
	for _, k := range slices.Sorted(maps.Keys(adminTok.raw)) {
		if !slices.Contains([]string{"access_token", "token_type", "expires_in", "scope"}, k) {
			t.Errorf("admin token response has unexpected member %q:\n%s", k, adminTok.resp)
		}
	}

	// ---- 2. create realm acme and refuse bad requests ----
	if !t.Run("create realm", func(t *testing.T) {
		r := lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin))
		r.requireStatus(t, http.StatusCreated)
		r.checkHeader(t, "Location", "/admin/realms/acme")
		var rl struct {
			Name   string `json:"name"`
			Issuer string `json:"issuer"`
		}
		r.decode(t, &rl)
		if rl.Name != "acme" || rl.Issuer != acmeIssuer {
			t.Errorf("created realm = %+v, want acme with issuer %s", rl, acmeIssuer)
		}
	}) {
		t.FailNow()
	}
	t.Run("invalid realm names", func(t *testing.T) {
		for _, name := range []string{"Acme", "a.b", "a*", "a>", "a b", "", strings.Repeat("a", 64), "-x"} {
			body, _ := json.Marshal(map[string]string{"name": name})
			lk.postJSON(t, "/admin/realms", string(body), withBearer(admin)).checkError(t, http.StatusBadRequest, "invalid_request")
		}
		if got := realmNames(t, lk, admin); !slices.Equal(got, []string{"acme", "master"}) {
			t.Errorf("realms after invalid creates = %v, want [acme master]", got)
		}
	})
	t.Run("realm request errors", func(t *testing.T) {
		lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).checkError(t, http.StatusConflict, "conflict")

		r := lk.postJSON(t, "/admin/realms", `{"name":"nobody"}`)
		r.checkError(t, http.StatusUnauthorized, "invalid_token")
		if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") || strings.Contains(ch, "error=") {
			t.Errorf("no credentials: want a Bearer challenge without error (RFC 6750 §3.1), got %q", ch)
		}

		r = lk.postJSON(t, "/admin/realms", `{"name":"garbage"}`, withBearer("not-a-jwt"))
		r.checkError(t, http.StatusUnauthorized, "invalid_token")
		if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf(`garbage token: want WWW-Authenticate Bearer with error="invalid_token", got %q`, ch)
		}

		lk.do(t, http.MethodPost, "/admin/realms", strings.NewReader(`{"name":"plain"}`), withBearer(admin), withContentType("text/plain")).
			checkError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
		lk.postJSON(t, "/admin/realms", `{"name":`, withBearer(admin)).checkError(t, http.StatusBadRequest, "invalid_request")
		lk.postJSON(t, "/admin/realms", `{"name":"unknownfield","color":"red"}`, withBearer(admin)).checkError(t, http.StatusBadRequest, "invalid_request")

		if got := realmNames(t, lk, admin); !slices.Equal(got, []string{"acme", "master"}) {
			t.Errorf("realms after refused requests = %v, want [acme master]", got)
		}
	})

	// ---- 3. clients ----
	backend := lk.createClient(t, admin, "acme", `{"name":"backend","grant_types":["client_credentials"],"scopes":["read","write"]}`)
	if backend.Name != "backend" || !slices.Equal(backend.GrantTypes, []string{"client_credentials"}) ||
		!slices.Equal(backend.Scopes, []string{"read", "write"}) || backend.AccessTokenLifetime != 3600 || backend.Type != "confidential" {
		t.Errorf("created client = %+v", backend)
	}
	web := lk.createClient(t, admin, "acme", `{"name":"web","grant_types":["authorization_code"],"scopes":["read"],"redirect_uris":["https://web.example.com/callback"]}`)
	secrets := []string{adminSecret, backend.ClientSecret, web.ClientSecret}

	t.Run("client reads hide the secret", func(t *testing.T) {
		r := lk.get(t, "/admin/realms/acme/clients/"+backend.ClientID, withBearer(admin))
		r.requireStatus(t, http.StatusOK)
		requireNoSecrets(t, "GET client", r.body, secrets...)
		var got clientCreated
		r.decode(t, &got)
		want := backend
		want.ClientSecret = ""
		if got.ClientID != want.ClientID || got.Name != want.Name || !slices.Equal(got.Scopes, want.Scopes) ||
			!slices.Equal(got.GrantTypes, want.GrantTypes) || got.AccessTokenLifetime != want.AccessTokenLifetime {
			t.Errorf("GET client = %+v, want %+v", got, want)
		}

		r = lk.get(t, "/admin/realms/acme/clients", withBearer(admin))
		r.requireStatus(t, http.StatusOK)
		requireNoSecrets(t, "GET clients", r.body, secrets...)
		var list struct {
			Clients []clientCreated `json:"clients"`
		}
		r.decode(t, &list)
		var ids []string
		for _, c := range list.Clients {
			ids = append(ids, c.ClientID)
		}
		if !slices.Equal(ids, []string{backend.ClientID, web.ClientID}) {
			t.Errorf("client list ids = %v, want [%s %s]", ids, backend.ClientID, web.ClientID)
		}

		lk.get(t, "/admin/realms/acme/clients/00000000-0000-0000-0000-000000000000", withBearer(admin)).
			checkError(t, http.StatusNotFound, "not_found")
	})
	t.Run("invalid clients", func(t *testing.T) {
		lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"x","grant_types":["password"]}`, withBearer(admin)).
			checkError(t, http.StatusBadRequest, "invalid_request")
		lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"x","access_token_lifetime":5}`, withBearer(admin)).
			checkError(t, http.StatusBadRequest, "invalid_request")
		lk.postJSON(t, "/admin/realms/nope/clients", `{"name":"x"}`, withBearer(admin)).
			checkError(t, http.StatusNotFound, "not_found")
	})

	// ---- 4. tokens for the acme client ----
	tokenURL := tokenPath("acme")
	ccBasic := withBasic(backend.ClientID, backend.ClientSecret)
	type issued struct {
		token string
		scope string
	}
	var acmeTokens []issued // every token handed out by acme, in order

	basicTok := requireToken(t, lk.postForm(t, tokenURL, "grant_type=client_credentials", ccBasic))
	if basicTok.Scope != "read write" || basicTok.ExpiresIn != 3600 {
		t.Errorf("no scope requested: scope %q expires_in %v, want \"read write\" and 3600", basicTok.Scope, basicTok.ExpiresIn)
	}
	acmeTokens = append(acmeTokens, issued{basicTok.AccessToken, "read write"})

	postTok := requireToken(t, lk.postForm(t, tokenURL, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {backend.ClientID}, "client_secret": {backend.ClientSecret},
	}.Encode()))
	if postTok.Scope != "read write" {
		t.Errorf("client_secret_post: scope %q, want \"read write\"", postTok.Scope)
	}
	acmeTokens = append(acmeTokens, issued{postTok.AccessToken, "read write"})

	readTok := lk.clientToken(t, "acme", backend.ClientID, backend.ClientSecret, "read")
	if readTok.Scope != "read" {
		t.Errorf("scope=read: granted %q", readTok.Scope)
	}
	acmeTokens = append(acmeTokens, issued{readTok.AccessToken, "read"})

	t.Run("token errors", func(t *testing.T) {
		lk.postForm(t, tokenURL, "grant_type=client_credentials&scope=admin", ccBasic).checkError(t, http.StatusBadRequest, "invalid_scope")
		// Scope tokens are separated by spaces only (RFC 6749 §3.3).
		for _, sep := range []string{"%09", "%0A"} {
			lk.postForm(t, tokenURL, "grant_type=client_credentials&scope=read"+sep+"write", ccBasic).checkError(t, http.StatusBadRequest, "invalid_scope")
		}

		wrong := lk.postForm(t, tokenURL, "grant_type=client_credentials", withBasic(backend.ClientID, web.ClientSecret))
		wrong.checkError(t, http.StatusUnauthorized, "invalid_client")
		wrong.checkHeader(t, "WWW-Authenticate", `Basic realm="acme"`)
		unknown := lk.postForm(t, tokenURL, "grant_type=client_credentials", withBasic("3f9c0e2a-1111-4222-8333-944455556666", backend.ClientSecret))
		unknown.checkError(t, http.StatusUnauthorized, "invalid_client")
		unknown.checkHeader(t, "WWW-Authenticate", `Basic realm="acme"`)
		if string(wrong.body) != string(unknown.body) {
			t.Errorf("wrong secret and unknown client answer differently:\n%s\n%s", wrong, unknown)
		}
		wrongPost := lk.postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {backend.ClientID}, "client_secret": {"nope"}}.Encode())
		wrongPost.checkError(t, http.StatusUnauthorized, "invalid_client")
		wrongPost.checkHeader(t, "WWW-Authenticate", `Basic realm="acme"`) // every 401 has a challenge (RFC 9110)
		unknownPost := lk.postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"nope"}}.Encode())
		unknownPost.checkError(t, http.StatusUnauthorized, "invalid_client")
		if string(wrongPost.body) != string(unknownPost.body) {
			t.Errorf("client_secret_post: wrong secret and unknown client answer differently:\n%s\n%s", wrongPost, unknownPost)
		}

		lk.postForm(t, tokenURL, "grant_type=client_credentials&client_secret="+url.QueryEscape(backend.ClientSecret), ccBasic).
			checkError(t, http.StatusBadRequest, "invalid_request")
		lk.postForm(t, tokenURL+"?client_secret="+url.QueryEscape(backend.ClientSecret), "grant_type=client_credentials", ccBasic).
			checkError(t, http.StatusBadRequest, "invalid_request")
		// Also where url.Query would drop the pair: a ';', a bad escape.
		postBody := "grant_type=client_credentials&client_id=" + backend.ClientID + "&client_secret=" + url.QueryEscape(backend.ClientSecret)
		for _, q := range []string{"?client_secret=" + backend.ClientSecret + ";", "?a=b;client_secret=" + backend.ClientSecret, "?client_secret=" + backend.ClientSecret + "%zz"} {
			lk.postForm(t, tokenURL+q, postBody).checkError(t, http.StatusBadRequest, "invalid_request")
		}
		lk.do(t, http.MethodPost, tokenURL, strings.NewReader(`{"grant_type":"client_credentials"}`), ccBasic, withContentType("application/json")).
			checkError(t, http.StatusBadRequest, "invalid_request")
		lk.postForm(t, tokenURL, "grant_type=client_credentials&grant_type=client_credentials", ccBasic).
			checkError(t, http.StatusBadRequest, "invalid_request")
		lk.postForm(t, tokenURL, "grant_type=client_credentials&scope=read&scope=write", ccBasic).
			checkError(t, http.StatusBadRequest, "invalid_request")
		big := "grant_type=client_credentials&pad=" + strings.Repeat("a", 70<<10)
		lk.postForm(t, tokenURL, big, ccBasic).checkError(t, http.StatusRequestEntityTooLarge, "request_too_large")
		lk.get(t, tokenURL, ccBasic).checkError(t, http.StatusMethodNotAllowed, "method_not_allowed")
		lk.postForm(t, tokenURL, "scope=read", ccBasic).checkError(t, http.StatusBadRequest, "invalid_request")
		lk.postForm(t, tokenURL, "grant_type=password&username=u&password=p", ccBasic).checkError(t, http.StatusBadRequest, "unsupported_grant_type")
		lk.postForm(t, tokenURL, "grant_type=client_credentials", withBasic(web.ClientID, web.ClientSecret)).
			checkError(t, http.StatusBadRequest, "unauthorized_client")
		lk.postForm(t, tokenPath("nope"), "grant_type=client_credentials", ccBasic).checkError(t, http.StatusNotFound, "not_found")
	})

	t.Run("non-management token is forbidden", func(t *testing.T) {
		r := lk.postJSON(t, "/admin/realms", `{"name":"byacme"}`, withBearer(readTok.AccessToken))
		r.checkError(t, http.StatusForbidden, "insufficient_scope")
		if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, `error="insufficient_scope"`) {
			t.Errorf(`want WWW-Authenticate Bearer with error="insufficient_scope", got %q`, ch)
		}
	})

	// ---- 5. discovery, JWKS, token verification ----
	var jwksURI string
	t.Run("discovery", func(t *testing.T) {
		for _, path := range []string{"/realms/acme/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/realms/acme"} {
			for _, opts := range [][]reqOpt{nil, {withHost("evil.example"), withHeader("X-Forwarded-Host", "evil.example"), withHeader("X-Forwarded-Proto", "https")}} {
				r := lk.get(t, path, opts...)
				r.requireStatus(t, http.StatusOK)
				var md map[string]any
				r.decode(t, &md)
				if md["issuer"] != acmeIssuer {
					t.Errorf("issuer = %v, want %s:\n%s", md["issuer"], acmeIssuer, r)
				}
				if md["token_endpoint"] != acmeIssuer+"/protocol/openid-connect/token" {
					t.Errorf("token_endpoint = %v:\n%s", md["token_endpoint"], r)
				}
				if md["jwks_uri"] != acmeIssuer+"/protocol/openid-connect/certs" {
					t.Errorf("jwks_uri = %v:\n%s", md["jwks_uri"], r)
				}
				jwksURI, _ = md["jwks_uri"].(string)
			}
		}
		lk.get(t, "/realms/nope/.well-known/openid-configuration").checkError(t, http.StatusNotFound, "not_found")
	})
	if jwksURI == "" {
		t.Fatal("no jwks_uri from discovery")
	}
	set := lk.fetchJWKS(t, jwksURI)
	es, rs := set.kids("ES256"), set.kids("RS256")
	if len(set.keys) != 2 || len(es) != 1 || len(rs) != 1 {
		t.Fatalf("JWKS = %s, want exactly one ES256 and one RS256 key", set.raw)
	}
	if k, _ := set.key(rs[0]); k["kty"] != "RSA" || k["n"] == nil || k["e"] == nil {
		t.Errorf("RS256 key is not an RSA public key: %v", k)
	}
	oldKid := es[0]
	var jtis []string
	for _, it := range acmeTokens {
		v := verifyAccessToken(t, it.token, set, acmeIssuer, backend.ClientID, it.scope)
		if v.kid() != oldKid {
			t.Errorf("token kid %q, want the ES256 key %q", v.kid(), oldKid)
		}
		jtis = append(jtis, v.jti())
	}

	// ---- 6. the audit trail ----
	all := lk.events(t, admin, "acme", "after_seq=0&limit=100")
	t.Run("events", func(t *testing.T) {
		requireNoSecrets(t, "events", all.resp.body, secrets...)
		evs := all.Events
		if len(evs) == 0 || evs[0].Type != "realm.created" || evs[0].Seq != 1 {
			t.Fatalf("events should start with realm.created at seq 1:\n%s", all.resp)
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].Seq <= evs[i-1].Seq {
				t.Errorf("seq not strictly increasing at %d: %d after %d", i, evs[i].Seq, evs[i-1].Seq)
			}
		}
		if all.NextAfterSeq != evs[len(evs)-1].Seq {
			t.Errorf("next_after_seq = %d, want the last seq %d", all.NextAfterSeq, evs[len(evs)-1].Seq)
		}
		// Each client's creation also refers to the realm-defined scopes it
		// is given: backend to read and write, web to read, the realm's
		// console (created with it) to management.
		wantCounts := map[string]int{"realm.created": 1, "realm.key_added": 2, "realm.scope_defined": 4, "client.created": 3,
			"scope.referenced": 4, "token.issued": len(acmeTokens)}
		if got := countTypes(evs); !maps.Equal(got, wantCounts) {
			t.Errorf("event types = %v, want %v (refused requests must write nothing)", got, wantCounts)
		}
		var gotJTIs []string
		for i, e := range evs {
			raw := string(all.Raw[i])
			for _, field := range []string{`"aggregate"`, `"actor"`, `"client_id"`, `"time"`, `"data"`, `"id"`, `"type"`, `"seq"`} {
				if !strings.Contains(raw, field+":") {
					t.Errorf("event %d lacks %s: %s", i, field, raw)
				}
			}
			if !uuidPattern.MatchString(e.ID) {
				t.Errorf("event id %q is not a UUID", e.ID)
			}
			if tm, err := time.Parse(time.RFC3339Nano, e.Time); err != nil || tm.Before(start.Add(-time.Minute)) || tm.After(time.Now().Add(time.Minute)) {
				t.Errorf("event %d time %q is not a recent RFC 3339 time (%v)", i, e.Time, err)
			}
			if e.Data == nil {
				t.Errorf("event %d has no data: %s", i, raw)
			}
			switch e.Type {
			case "token.issued":
				if e.Actor != "client:"+backend.ClientID || e.ClientID != backend.ClientID || e.Aggregate != "client/"+backend.ClientID {
					t.Errorf("token.issued actor %q client_id %q aggregate %q, want client:%s", e.Actor, e.ClientID, e.Aggregate, backend.ClientID)
				}
				jti, _ := e.Data["jti"].(string)
				gotJTIs = append(gotJTIs, jti)
				if e.Data["sub"] != backend.ClientID || e.Data["grant_type"] != "client_credentials" || e.Data["kid"] != oldKid {
					t.Errorf("token.issued data = %v", e.Data)
				}
			default:
				if e.Actor != "client:latchkey-admin" || e.ClientID != "latchkey-admin" {
					t.Errorf("%s actor %q client_id %q, want client:latchkey-admin / latchkey-admin", e.Type, e.Actor, e.ClientID)
				}
				switch e.Type {
				case "client.created":
					if id, _ := e.Data["client_id"].(string); e.Aggregate != "client/"+id || (id != backend.ClientID && id != web.ClientID && id != "latchkey-console") {
						t.Errorf("client.created aggregate %q data %v", e.Aggregate, e.Data)
					}
				case "scope.referenced":
					// A scope's aggregate id: 32 hex digits of its name's SHA-256.
					scope, _ := e.Data["scope"].(string)
					sum := sha256.Sum256([]byte(scope))
					if e.Aggregate != "scope/"+hex.EncodeToString(sum[:16]) ||
						(e.Data["by"] != "client/"+backend.ClientID && e.Data["by"] != "client/"+web.ClientID && e.Data["by"] != "client/latchkey-console") {
						t.Errorf("scope.referenced aggregate %q data %v", e.Aggregate, e.Data)
					}
				default:
					if e.Aggregate != "realm/acme" {
						t.Errorf("%s aggregate %q, want realm/acme", e.Type, e.Aggregate)
					}
				}
			}
		}
		if !slices.Equal(gotJTIs, jtis) {
			t.Errorf("token.issued jtis = %v, want the issued tokens' jtis %v", gotJTIs, jtis)
		}
	})
	t.Run("event paging", func(t *testing.T) {
		if len(all.Events) < 4 {
			t.Fatalf("need at least 4 events, have %d", len(all.Events))
		}
		first := lk.events(t, admin, "acme", "limit=2")
		if !slices.EqualFunc(first.Raw, all.Raw[:2], func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Errorf("limit=2 page differs from the first two events:\n%s", first.resp)
		}
		if first.NextAfterSeq != all.Events[1].Seq {
			t.Errorf("limit=2: next_after_seq %d, want %d", first.NextAfterSeq, all.Events[1].Seq)
		}
		second := lk.events(t, admin, "acme", fmt.Sprintf("after_seq=%d&limit=2", first.NextAfterSeq))
		if !slices.EqualFunc(second.Raw, all.Raw[2:4], func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Errorf("second page differs from events 3 and 4:\n%s", second.resp)
		}
		end := lk.events(t, admin, "acme", fmt.Sprintf("after_seq=%d", all.NextAfterSeq))
		if len(end.Events) != 0 || end.NextAfterSeq != all.NextAfterSeq {
			t.Errorf("after the last event: want no events and next_after_seq %d:\n%s", all.NextAfterSeq, end.resp)
		}
		// The largest sequence: nothing can follow it (and it must not wrap).
		if beyond := lk.events(t, admin, "acme", "after_seq=18446744073709551615"); len(beyond.Events) != 0 {
			t.Errorf("after the largest sequence: want no events:\n%s", beyond.resp)
		}
		for _, q := range []string{"after_seq=abc", "limit=0", "limit=5000", "after_seq=-1", "after_seq=18446744073709551616"} {
			lk.get(t, "/admin/realms/acme/events?"+q, withBearer(admin)).checkError(t, http.StatusBadRequest, "invalid_request")
		}
		lk.get(t, "/admin/realms/nope/events", withBearer(admin)).checkError(t, http.StatusNotFound, "not_found")
	})

	// ---- key rotation ----
	t.Run("key rotation", func(t *testing.T) {
		r := lk.do(t, http.MethodPost, "/admin/realms/acme/keys/rotate", nil, withBearer(admin))
		r.requireStatus(t, http.StatusOK)
		var rl struct {
			Keys []struct {
				Kid         string `json:"kid"`
				Alg         string `json:"alg"`
				Active      bool   `json:"active"`
				VerifyUntil int64  `json:"verify_until"`
			} `json:"keys"`
		}
		r.decode(t, &rl)
		var newKid string
		for _, k := range rl.Keys {
			if k.Alg == "ES256" && k.Active {
				if newKid != "" {
					t.Errorf("two active ES256 keys after rotation:\n%s", r)
				}
				newKid = k.Kid
			}
			// Published as long as any token can live (24 h), whatever the
			// clients' lifetimes are now: one may have been shortened after
			// a long-lived token was signed.
			if k.Kid == oldKid && (k.Active || k.VerifyUntil < time.Now().Unix()+24*3600-60) {
				t.Errorf("old key after rotation: %+v, want inactive and published for 24 hours", k)
			}
		}
		if newKid == "" || newKid == oldKid {
			t.Fatalf("active ES256 kid after rotation = %q (old %q):\n%s", newKid, oldKid, r)
		}

		after := lk.fetchJWKS(t, jwksURI)
		if got, want := after.kids("ES256"), slices.Sorted(slices.Values([]string{oldKid, newKid})); !slices.Equal(got, want) {
			t.Errorf("JWKS ES256 kids after rotation = %v, want %v", got, want)
		}
		if got := after.kids("RS256"); len(got) != 2 || !slices.Contains(got, rs[0]) {
			t.Errorf("JWKS RS256 kids after rotation = %v, want the old %s and a new one", got, rs[0])
		}
		verifyAccessToken(t, basicTok.AccessToken, after, acmeIssuer, backend.ClientID, "read write")

		fresh := lk.clientToken(t, "acme", backend.ClientID, backend.ClientSecret, "write")
		if v := verifyAccessToken(t, fresh.AccessToken, after, acmeIssuer, backend.ClientID, "write"); v.kid() != newKid {
			t.Errorf("token after rotation has kid %q, want the new key %q", v.kid(), newKid)
		}

		more := lk.events(t, admin, "acme", fmt.Sprintf("after_seq=%d", all.NextAfterSeq))
		want := map[string]int{"realm.key_deactivated": 2, "realm.key_added": 2, "token.issued": 1}
		if got := countTypes(more.Events); !maps.Equal(got, want) {
			t.Errorf("events after rotation = %v, want %v", got, want)
		}
		requireNoSecrets(t, "events after rotation", more.resp.body, secrets...)
	})

	lk.stop(t)
	// After exit every byte of stderr has been copied: the generated admin
	// secret was printed once, and no secret of acme's clients reached it.
	logs := lk.stderr.String()
	if n := strings.Count(logs, adminSecret); n != 1 {
		t.Errorf("admin secret appears %d times on stderr by shutdown, want once", n)
	}
	for _, s := range []string{backend.ClientSecret, web.ClientSecret, hashHex(backend.ClientSecret), hashHex(adminSecret)} {
		if strings.Contains(logs, s) {
			t.Errorf("stderr contains a client secret or its hash %q", s)
		}
	}
}

func TestRestartKeepsRealmsClientsAndTokens(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	const adminSecret = "e2e-restart-admin-secret-not-for-production-0001"
	first := startLatchkey(t, serverOpts{name: "first start", data: data, bootstrapSecret: adminSecret})
	// The file holds the generated password of the first administrator,
	// never the client secret that came from the environment.
	if raw, err := os.ReadFile(filepath.Join(data, "bootstrap-admin.json")); err != nil || strings.Contains(string(raw), "client_secret") ||
		strings.Contains(string(raw), adminSecret) || !strings.Contains(string(raw), `"admin_password"`) {
		t.Errorf("bootstrap-admin.json with the secret from the environment: %s (%v)", raw, err)
	}
	issuer := first.base + "/realms/acme"
	jwksURI := issuer + "/protocol/openid-connect/certs"

	admin := first.adminToken(t, adminSecret).AccessToken
	first.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	client := first.createClient(t, admin, "acme", `{"name":"backend","scopes":["read","write"]}`)
	oldTok := first.clientToken(t, "acme", client.ClientID, client.ClientSecret, "read")
	// Read once the token shows (issuance does not wait for the read
	// models): its last_used_at must survive the restart too.
	clientBefore := first.get(t, "/admin/realms/acme/clients/"+client.ClientID, withBearer(admin))
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(string(clientBefore.body), `"last_used_at"`) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		clientBefore = first.get(t, "/admin/realms/acme/clients/"+client.ClientID, withBearer(admin))
	}
	clientBefore.requireStatus(t, http.StatusOK)
	if !strings.Contains(string(clientBefore.body), `"last_used_at"`) {
		t.Fatalf("the client shows no last_used_at after its token: %s", clientBefore.body)
	}
	setBefore := first.fetchJWKS(t, jwksURI)
	oldV := verifyAccessToken(t, oldTok.AccessToken, setBefore, issuer, client.ClientID, "read")
	eventsBefore := first.events(t, admin, "acme", "after_seq=0&limit=100")
	first.stop(t)
	// After exit every byte of stderr has been copied.
	if logs := first.stderr.String(); strings.Contains(logs, adminSecret) || !strings.Contains(logs, "latchkey-admin") {
		t.Errorf("first start: want the bootstrap notice naming latchkey-admin and never the secret from LATCHKEY_BOOTSTRAP_CLIENT_SECRET:\n%s", logs)
	}

	second := startLatchkey(t, serverOpts{name: "second start", addr: first.addr, data: data, bootstrapSecret: adminSecret})

	admin = second.adminToken(t, adminSecret).AccessToken
	if got := realmNames(t, second, admin); !slices.Equal(got, []string{"acme", "master"}) {
		t.Errorf("realms after restart = %v, want [acme master]", got)
	}
	r := second.get(t, "/admin/realms/acme", withBearer(admin))
	r.requireStatus(t, http.StatusOK)
	clientAfter := second.get(t, "/admin/realms/acme/clients/"+client.ClientID, withBearer(admin))
	clientAfter.requireStatus(t, http.StatusOK)
	if string(clientAfter.body) != string(clientBefore.body) {
		t.Errorf("client changed across restart:\nbefore: %s\nafter:  %s", clientBefore.body, clientAfter.body)
	}

	setAfter := second.fetchJWKS(t, jwksURI)
	if string(setAfter.raw) != string(setBefore.raw) {
		t.Errorf("JWKS changed across restart:\nbefore: %s\nafter:  %s", setBefore.raw, setAfter.raw)
	}
	verifyAccessToken(t, oldTok.AccessToken, setAfter, issuer, client.ClientID, "read")

	newTok := second.clientToken(t, "acme", client.ClientID, client.ClientSecret, "")
	if newTok.Scope != "read write" {
		t.Errorf("token after restart: scope %q, want \"read write\"", newTok.Scope)
	}
	newV := verifyAccessToken(t, newTok.AccessToken, setAfter, issuer, client.ClientID, "read write")
	if newV.kid() != oldV.kid() {
		t.Errorf("token after restart signed with kid %q, want the unrotated key %q", newV.kid(), oldV.kid())
	}

	eventsAfter := second.events(t, admin, "acme", "after_seq=0&limit=100")
	n := len(eventsBefore.Raw)
	if len(eventsAfter.Raw) != n+1 {
		t.Fatalf("events after restart: %d, want the %d from before plus one token.issued:\n%s", len(eventsAfter.Raw), n, eventsAfter.resp)
	}
	for i := range n {
		if string(eventsAfter.Raw[i]) != string(eventsBefore.Raw[i]) {
			t.Errorf("event %d changed across restart:\nbefore: %s\nafter:  %s", i, eventsBefore.Raw[i], eventsAfter.Raw[i])
		}
	}
	last := eventsAfter.Events[n]
	if last.Type != "token.issued" || last.Data["jti"] != newV.jti() || last.Seq <= eventsBefore.NextAfterSeq {
		t.Errorf("new event after restart = %+v, want token.issued of jti %s after seq %d", last, newV.jti(), eventsBefore.NextAfterSeq)
	}
	second.stop(t)
	if logs := second.stderr.String(); strings.Contains(logs, adminSecret) || strings.Contains(strings.ToLower(logs), "bootstrap") || strings.Contains(logs, "client_secret") {
		t.Errorf("second start printed bootstrap output:\n%s", logs)
	}
}

// runServeExpectingFailure runs `latchkey serve` that must refuse to start:
// it returns its stderr, and fails the test if it started or hung.
func runServeExpectingFailure(t *testing.T, data string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, latchkeyBin, "serve", "--http", freeAddr(t), "--data", data)
	cmd.Env = childEnv(env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || ctx.Err() != nil {
		t.Fatalf("serve on %s: %v (context %v), want a refusal to start:\n%s", data, err, ctx.Err(), stderr.String())
	}
	return stderr.String()
}

// One server per data directory, and only with the master key its signing
// keys were sealed with: anything else stops at start, with a reason.
func TestDataDirectoryAndMasterKeyAreGuarded(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	const adminSecret = "e2e-guard-admin-secret-not-for-production-0001"
	lk := startLatchkey(t, serverOpts{name: "guarded", data: data, bootstrapSecret: adminSecret})
	if out := runServeExpectingFailure(t, data); !strings.Contains(out, "in use") {
		t.Errorf("a second serve on the same data directory: stderr %q, want it to say the directory is in use", out)
	}
	if _, errOut, code := runReplayCmd(t, "--realm", "master", "--data", data); code == 0 || !strings.Contains(errOut, "in use") {
		t.Errorf("replay --data of a running server: exit %d, stderr %q", code, errOut)
	}
	lk.stop(t)

	wrong := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if out := runServeExpectingFailure(t, data, "LATCHKEY_MASTER_KEY="+wrong); !strings.Contains(out, "master key") {
		t.Errorf("serve with another master key: stderr %q, want it to name the master key", out)
	}
	keyFile := filepath.Join(data, "master.key")
	if err := os.Rename(keyFile, keyFile+".away"); err != nil {
		t.Fatal(err)
	}
	if out := runServeExpectingFailure(t, data); !strings.Contains(out, "master key") {
		t.Errorf("serve without its master key: stderr %q, want it to name the master key", out)
	}
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Errorf("a refused start left a new master.key behind (stat: %v): the next start would use it", err)
	}
	if err := os.Rename(keyFile+".away", keyFile); err != nil {
		t.Fatal(err)
	}
	again := startLatchkey(t, serverOpts{name: "guarded again", data: data})
	again.adminToken(t, adminSecret)
}

// SIGTERM drains HTTP: a request whose body is still arriving when it
// comes is answered in full, not cancelled.
func TestShutdownLetsRequestsInFlightFinish(t *testing.T) {
	t.Parallel()
	const adminSecret = "e2e-drain-admin-secret-not-for-production-0001"
	lk := startLatchkey(t, serverOpts{name: "draining", data: t.TempDir(), bootstrapSecret: adminSecret})
	body := "grant_type=client_credentials&scope=management"
	conn, err := net.Dial("tcp", lk.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /realms/master/protocol/openid-connect/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Authorization: Basic %s\r\nContent-Length: %d\r\n\r\n%s", lk.addr,
		base64.StdEncoding.EncodeToString([]byte("latchkey-admin:"+adminSecret)), len(body), body[:10])
	time.Sleep(200 * time.Millisecond) // the request is being read
	if err := lk.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := conn.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a request in flight at SIGTERM: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("a token request in flight at SIGTERM: HTTP %d %s, want 200", resp.StatusCode, b)
	}
	select {
	case <-lk.done:
	case <-time.After(stopTimeout):
		t.Fatal("the server did not exit after SIGTERM")
	}
}

// The command line is read strictly: -h is not an error, anything that
// cannot be read is a usage error (exit status 2), and nothing starts.
func TestServeCommandLine(t *testing.T) {
	t.Parallel()
	run := func(env []string, args ...string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, latchkeyBin, append([]string{"serve", "--data", t.TempDir(), "--http", freeAddr(t)}, args...)...)
		cmd.Env = childEnv(env...)
		out, err := cmd.CombinedOutput()
		var exitErr *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &exitErr) && ctx.Err() == nil:
			return exitErr.ExitCode(), string(out)
		}
		t.Fatalf("serve %v: %v (it started?)\n%s", args, err, out)
		return 0, ""
	}
	if code, out := run(nil, "-h"); code != 0 || !strings.Contains(out, "-public-url") {
		t.Errorf("serve -h: exit %d, want 0 and the flags:\n%s", code, out)
	}
	// -h answers whatever the environment says; a bad variable matters
	// only where no flag replaces it (the flag wins).
	if code, out := run([]string{"LATCHKEY_REPLICAS=abc"}, "-h"); code != 0 {
		t.Errorf("serve -h with LATCHKEY_REPLICAS=abc: exit %d, want 0:\n%s", code, out)
	}
	if code, out := run([]string{"LATCHKEY_REPLICAS=abc"}, "--replicas", "1", "--log-level", "verbose"); code != 2 || strings.Contains(out, "LATCHKEY_REPLICAS") || !strings.Contains(out, "verbose") {
		t.Errorf("serve --replicas 1 --log-level verbose with LATCHKEY_REPLICAS=abc: exit %d, want 2 for the log level only:\n%s", code, out)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		say  string
	}{
		{nil, []string{"--no-such-flag"}, "no-such-flag"},
		{nil, []string{"extra-argument"}, "extra-argument"},
		{[]string{"LATCHKEY_REPLICAS=abc"}, nil, "LATCHKEY_REPLICAS"},
		{[]string{"LATCHKEY_CHECKPOINT_INTERVAL=soon"}, nil, "LATCHKEY_CHECKPOINT_INTERVAL"},
		{nil, []string{"--public-url", "not a url"}, "public-url"},
		{nil, []string{"--public-url", "https://id.example.com/base?x=1"}, "public-url"},
		{nil, []string{"--public-url", "https://id.example.com/#top"}, "public-url"},
	} {
		if code, out := run(tc.env, tc.args...); code != 2 || !strings.Contains(out, tc.say) {
			t.Errorf("serve %v with %v: exit %d, want 2 and a message naming %q:\n%s", tc.args, tc.env, code, tc.say, out)
		}
	}
	// The other commands keep the same rules.
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"bench", "-h"}, 0}, {[]string{"bench"}, 2}, {[]string{"bench", "token", "extra", "--client", "a", "--secret", "b"}, 2},
		{[]string{"replay", "-h"}, 0}, {[]string{"replay", "--data", t.TempDir()}, 2}, {[]string{"replay", "--realm", "acme", "--format", "xml"}, 2},
	} {
		cmd := exec.Command(latchkeyBin, tc.args...)
		cmd.Env = childEnv()
		out, err := cmd.CombinedOutput()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		}
		if code != tc.code || strings.Count(string(out), "usage: usage") > 0 {
			t.Errorf("latchkey %v: exit %d, want %d:\n%s", tc.args, code, tc.code, out)
		}
	}
}
