package main

// End-to-end: revocation, introspection, sessions and the verifier package,
// against the real binary.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/realms/verifier"
)

func introspectPath(realm string) string {
	return "/realms/" + realm + "/protocol/openid-connect/token/introspect"
}

func revokePath(realm string) string { return "/realms/" + realm + "/protocol/openid-connect/revoke" }

// introspect asks as client (id, secret) and returns the decoded answer.
func (lk *latchkey) introspect(t *testing.T, realm, id, secret, token string) map[string]any {
	t.Helper()
	r := lk.postForm(t, introspectPath(realm), url.Values{"token": {token}}.Encode(), withBasic(id, secret))
	r.requireStatus(t, http.StatusOK)
	r.checkHeader(t, "Cache-Control", "no-store")
	var out map[string]any
	r.decode(t, &out)
	return out
}

// requireInactive checks the exact RFC 7662 answer for an inactive token.
func (lk *latchkey) requireInactive(t *testing.T, realm, id, secret, token, why string) {
	t.Helper()
	r := lk.postForm(t, introspectPath(realm), url.Values{"token": {token}}.Encode(), withBasic(id, secret))
	r.requireStatus(t, http.StatusOK)
	if got := strings.TrimSpace(string(r.body)); got != `{"active":false}` {
		t.Errorf("%s: want exactly {\"active\":false}:\n%s", why, r)
	}
}

func (lk *latchkey) requireActive(t *testing.T, realm, id, secret, token, why string) map[string]any {
	t.Helper()
	got := lk.introspect(t, realm, id, secret, token)
	if got["active"] != true {
		t.Fatalf("%s: token inactive: %v", why, got)
	}
	return got
}

type sessionsPage struct {
	Sessions []struct {
		ClientID string `json:"client_id"`
		JTI      string `json:"jti"`
		Status   string `json:"status"`
		LastUsed int64  `json:"last_used"`
	} `json:"sessions"`
	NextCursor string `json:"next_cursor"`
}

func (lk *latchkey) sessions(t *testing.T, admin, realm, query string) sessionsPage {
	t.Helper()
	r := lk.get(t, "/admin/realms/"+realm+"/sessions?"+query, withBearer(admin))
	r.requireStatus(t, http.StatusOK)
	var p sessionsPage
	r.decode(t, &p)
	return p
}

func jtiOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.JTI
}

func TestRevocationIntrospectionAndSessions(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	natsAddr := freeAddr(t)
	opts := serverOpts{name: "revocation", data: data, bootstrapSecret: "bootstrap-secret-for-revocation-e2e", args: []string{"--nats-listen", natsAddr}}
	lk := startLatchkey(t, opts)
	admin := lk.adminToken(t, opts.bootstrapSecret).AccessToken
	for _, realm := range []string{"acme", "beta"} {
		lk.postJSON(t, "/admin/realms", `{"name":"`+realm+`"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	}
	backend := lk.createClient(t, admin, "acme", `{"name":"backend","scopes":["read","write"]}`)
	rs := lk.createClient(t, admin, "acme", `{"name":"resource server"}`)
	other := lk.createClient(t, admin, "acme", `{"name":"other"}`)
	betaClient := lk.createClient(t, admin, "beta", `{"name":"beta backend"}`)

	tok := lk.clientToken(t, "acme", backend.ClientID, backend.ClientSecret, "read").AccessToken

	// Introspection: credentials first, then exactly RFC 7662.
	lk.postForm(t, introspectPath("acme"), url.Values{"token": {tok}}.Encode()).checkError(t, http.StatusUnauthorized, "invalid_client")
	lk.postForm(t, introspectPath("acme"), url.Values{"token": {tok}}.Encode(), withBasic(rs.ClientID, "wrong")).checkError(t, http.StatusUnauthorized, "invalid_client")
	lk.postForm(t, introspectPath("acme"), "", withBasic(rs.ClientID, rs.ClientSecret)).checkError(t, http.StatusBadRequest, "invalid_request")
	got := lk.requireActive(t, "acme", rs.ClientID, rs.ClientSecret, tok, "fresh token")
	for k, want := range map[string]any{
		"scope": "read", "client_id": backend.ClientID, "sub": backend.ClientID,
		"iss": lk.base + "/realms/acme", "jti": jtiOf(t, tok), "token_type": "Bearer",
	} {
		if got[k] != want {
			t.Errorf("introspection %s = %v, want %v (%v)", k, got[k], want, got)
		}
	}
	if exp, iat := got["exp"].(float64), got["iat"].(float64); exp-iat != 3600 {
		t.Errorf("introspection exp-iat = %v", exp-iat)
	}
	lk.requireInactive(t, "acme", rs.ClientID, rs.ClientSecret, "garbage", "malformed token")
	lk.requireInactive(t, "acme", rs.ClientID, rs.ClientSecret, tok[:len(tok)-4]+"AAAA", "token with a forged signature")
	betaTok := lk.clientToken(t, "beta", betaClient.ClientID, betaClient.ClientSecret, "").AccessToken
	lk.requireInactive(t, "acme", rs.ClientID, rs.ClientSecret, betaTok, "another realm's token")

	// The verifier package, over NATS on TCP as the realm's user, sees
	// tokens and revocations.
	nc, err := verifier.Connect("nats://"+natsAddr, "acme", realmNATSCredentials(t, data, "acme"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := verifier.New(ctx, verifier.Config{Issuer: lk.base + "/realms/acme", Audience: lk.base + "/realms/acme", NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("verifier rejects a valid token: %v", err)
	}
	if _, err := v.Verify(betaTok); err == nil {
		t.Fatal("verifier of acme accepts beta's token")
	}

	// RFC 7009 revocation.
	lk.get(t, revokePath("acme")).checkStatus(t, http.StatusMethodNotAllowed)
	lk.postForm(t, revokePath("acme"), "", withBasic(backend.ClientID, backend.ClientSecret)).checkError(t, http.StatusBadRequest, "invalid_request")
	lk.postForm(t, revokePath("acme"), url.Values{"token": {tok}}.Encode()).checkError(t, http.StatusUnauthorized, "invalid_client")
	lk.postForm(t, revokePath("acme"), url.Values{"token": {"unknown-token"}}.Encode(), withBasic(backend.ClientID, backend.ClientSecret)).requireStatus(t, http.StatusOK)
	lk.postForm(t, revokePath("acme"), url.Values{"token": {tok}}.Encode(), withBasic(other.ClientID, other.ClientSecret)).checkError(t, http.StatusBadRequest, "unauthorized_client")
	lk.requireActive(t, "acme", rs.ClientID, rs.ClientSecret, tok, "after another client tried to revoke it")
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("verifier rejects the token another client failed to revoke: %v", err)
	}

	start := time.Now()
	lk.postForm(t, revokePath("acme"), url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}}.Encode(),
		withBasic(backend.ClientID, backend.ClientSecret)).requireStatus(t, http.StatusOK)
	answered := time.Since(start)
	lk.requireInactive(t, "acme", rs.ClientID, rs.ClientSecret, tok, "revoked token")
	propagation := waitRejected(t, v, tok, start)
	t.Logf("revocation of one token: API answered in %s; verifier rejected it %s after the request was sent", answered, propagation)
	lk.postForm(t, revokePath("acme"), url.Values{"token": {tok}}.Encode(), withBasic(backend.ClientID, backend.ClientSecret)).requireStatus(t, http.StatusOK)

	// Admin revocation of one token by jti.
	tok2 := lk.clientToken(t, "acme", backend.ClientID, backend.ClientSecret, "").AccessToken
	lk.do(t, http.MethodDelete, "/admin/realms/acme/tokens/"+jtiOf(t, tok2), nil, withBearer(admin)).requireStatus(t, http.StatusNoContent)
	lk.requireInactive(t, "acme", rs.ClientID, rs.ClientSecret, tok2, "token revoked by an administrator")
	lk.do(t, http.MethodDelete, "/admin/realms/acme/tokens/00000000-0000-4000-8000-000000000000", nil, withBearer(admin)).checkError(t, http.StatusNotFound, "not_found")

	// Revoke every token of a client: one request, all inactive, new ones work.
	var many []string
	for range 5 {
		many = append(many, lk.clientToken(t, "acme", backend.ClientID, backend.ClientSecret, "").AccessToken)
	}
	start = time.Now()
	lk.postJSON(t, "/admin/realms/acme/clients/"+backend.ClientID+"/revoke-tokens", "", withBearer(admin)).requireStatus(t, http.StatusNoContent)
	for _, m := range many {
		lk.requireInactive(t, "acme", rs.ClientID, rs.ClientSecret, m, "token of a client whose tokens were all revoked")
	}
	t.Logf("revoke-all: verifier rejected the client's tokens %s after the request was sent", waitRejected(t, v, many[len(many)-1], start))
	fresh := lk.clientToken(t, "acme", backend.ClientID, backend.ClientSecret, "").AccessToken
	lk.requireActive(t, "acme", rs.ClientID, rs.ClientSecret, fresh, "token issued after revoke-all")
	if _, err := v.Verify(fresh); err != nil {
		t.Fatalf("verifier rejects a token issued after revoke-all: %v", err)
	}
	lk.postJSON(t, "/admin/realms/acme/clients/nope/revoke-tokens", "", withBearer(admin)).checkError(t, http.StatusNotFound, "not_found")

	// Sessions: the client's tokens, by status.
	all := lk.sessions(t, admin, "acme", "client_id="+backend.ClientID)
	if len(all.Sessions) != 8 {
		t.Fatalf("sessions of backend: %d, want 8: %+v", len(all.Sessions), all)
	}
	active := lk.sessions(t, admin, "acme", "client_id="+backend.ClientID+"&status=active")
	if len(active.Sessions) != 1 || active.Sessions[0].JTI != jtiOf(t, fresh) {
		t.Fatalf("active sessions of backend: %+v", active)
	}
	revoked := lk.sessions(t, admin, "acme", "status=revoked&limit=3")
	if len(revoked.Sessions) != 3 || revoked.NextCursor == "" {
		t.Fatalf("first page of revoked sessions: %+v", revoked)
	}
	rest := lk.sessions(t, admin, "acme", "status=revoked&limit=100&cursor="+revoked.NextCursor)
	if len(rest.Sessions) != 4 || rest.NextCursor != "" {
		t.Fatalf("second page of revoked sessions: %+v", rest)
	}
	lk.get(t, "/admin/realms/acme/sessions?status=bogus", withBearer(admin)).checkError(t, http.StatusBadRequest, "invalid_request")
	lk.get(t, "/admin/realms/acme/sessions?cursor=zzz", withBearer(admin)).checkError(t, http.StatusBadRequest, "invalid_request")

	// A revoked admin token stops working at the admin API at once.
	admin2 := lk.adminToken(t, opts.bootstrapSecret).AccessToken
	lk.do(t, http.MethodDelete, "/admin/realms/master/tokens/"+jtiOf(t, admin2), nil, withBearer(admin)).requireStatus(t, http.StatusNoContent)
	lk.get(t, "/admin/realms", withBearer(admin2)).checkError(t, http.StatusUnauthorized, "invalid_token")

	// Restart: revoked stays revoked, active stays active, and use was recorded.
	lk.introspect(t, "acme", rs.ClientID, rs.ClientSecret, fresh)
	lk.stop(t)
	lk = startLatchkey(t, opts)
	admin = lk.adminToken(t, opts.bootstrapSecret).AccessToken
	lk.requireInactive(t, "acme", rs.ClientID, rs.ClientSecret, tok, "revoked token after restart")
	for _, m := range many {
		lk.requireInactive(t, "acme", rs.ClientID, rs.ClientSecret, m, "revoked-all token after restart")
	}
	lk.requireActive(t, "acme", rs.ClientID, rs.ClientSecret, fresh, "active token after restart")
	after := lk.sessions(t, admin, "acme", "client_id="+backend.ClientID+"&status=active")
	if len(after.Sessions) != 1 || after.Sessions[0].LastUsed == 0 {
		t.Fatalf("last use of an introspected token not recorded across a restart: %+v", after)
	}
}

// waitRejected polls the verifier until it rejects token (at most 2 s) and
// returns how long after start that was.
func waitRejected(t *testing.T, v *verifier.Verifier, token string, start time.Time) time.Duration {
	t.Helper()
	deadline := start.Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := v.Verify(token); err != nil {
			return time.Since(start)
		}
		time.Sleep(200 * time.Microsecond)
	}
	t.Fatal("the verifier still accepts the revoked token 2 s after the revocation request")
	return 0
}
