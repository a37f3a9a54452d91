package main

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// pkce returns a verifier and its S256 challenge.
func pkce() (string, string) {
	v := strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

// claimsOf reads a JWT's claims without verifying it (the tests that
// verify signatures are elsewhere).
func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatalf("not a JWT: %v", err)
	}
	return claims
}

func audOf(t *testing.T, token string) string {
	aud, _ := claimsOf(t, token).GetAudience()
	return strings.Join(aud, " ")
}

// Resource indicators (RFC 8707) at the token and authorization endpoints:
// the token's aud is the resource, its scopes and lifetime are the
// resource's, an unknown resource is invalid_target, a refresh narrows to
// one of the resources granted and never widens, and a token for a
// resource opens neither the admin API nor userinfo.
func TestResourceIndicators(t *testing.T) {
	t.Parallel()
	w := setUpMCP(t)
	lk := w.lk
	svc := lk.createClient(t, w.admin, mcpRealm, `{"name":"svc","scopes":["read","write","mcp:tools","management"]}`)
	cc := func(form string) *response {
		return lk.postForm(t, tokenPath(mcpRealm), "grant_type=client_credentials&"+form, withBasic(svc.ClientID, svc.ClientSecret))
	}
	// Without resource, today's behaviour: aud is the issuer.
	plain := requireToken(t, cc(""))
	if aud := audOf(t, plain.AccessToken); aud != w.issuer {
		t.Errorf("aud without resource = %q", aud)
	}
	// For the MCP resource: its scopes only, its lifetime cap.
	tok := requireToken(t, cc("resource="+url.QueryEscape(w.mcpURL)))
	if aud := audOf(t, tok.AccessToken); aud != w.mcpURL || tok.Scope != "mcp:tools" || tok.ExpiresIn != 600 {
		t.Errorf("token for the MCP resource: aud %q scope %q expires_in %v", aud, tok.Scope, tok.ExpiresIn)
	}
	cc("resource="+url.QueryEscape("https://unknown.example.test/")).checkError(t, 400, "invalid_target")
	cc("resource=not-a-uri").checkError(t, 400, "invalid_target")
	cc("resource="+url.QueryEscape(w.mcpURL+"#frag")).checkError(t, 400, "invalid_target")
	cc("resource="+url.QueryEscape(w.mcpURL)+"&resource="+url.QueryEscape(w.otherURL)).checkError(t, 400, "invalid_target")
	cc("scope=write&resource="+url.QueryEscape(w.mcpURL)).checkError(t, 400, "invalid_scope")

	// Introspection says aud; the admin API and userinfo refuse a
	// resource's token even with scope management.
	w.admin2xx(t, http.MethodPut, w.path("/resources/"+w.resources[w.otherURL]), `{"name":"Other API","scopes":["read","management"]}`)
	mgmt := requireToken(t, cc("scope=management&resource="+url.QueryEscape(w.otherURL)))
	var intro struct {
		Active bool   `json:"active"`
		Aud    string `json:"aud"`
	}
	lk.postForm(t, tokenPath(mcpRealm)+"/introspect", "token="+mgmt.AccessToken, withBasic(svc.ClientID, svc.ClientSecret)).decode(t, &intro)
	if !intro.Active || intro.Aud != w.otherURL {
		t.Errorf("introspection: %+v", intro)
	}
	lk.get(t, w.path("/clients"), withBearer(mgmt.AccessToken)).checkStatus(t, http.StatusUnauthorized)
	lk.get(t, "/realms/"+mcpRealm+"/protocol/openid-connect/userinfo", withBearer(mgmt.AccessToken)).checkStatus(t, http.StatusUnauthorized)

	// The authorization code flow with two resources.
	app := lk.postJSON(t, w.path("/clients"), `{"name":"Agent","type":"public","redirect_uris":["`+mcpRedirect+`"],"scopes":["openid","read","mcp:tools"],"issue_refresh_tokens":true}`, withBearer(w.admin))
	app.requireStatus(t, http.StatusCreated)
	var agent clientCreated
	app.decode(t, &agent)
	verifier, challenge := pkce()
	authURL := lk.base + "/realms/" + mcpRealm + "/protocol/openid-connect/auth?" + url.Values{
		"client_id": {agent.ClientID}, "redirect_uri": {mcpRedirect}, "response_type": {"code"}, "scope": {"openid mcp:tools read"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"s1"}, "resource": {w.mcpURL, w.otherURL},
	}.Encode()
	b := newBrowser(t)
	login := b.get(authURL)
	action, fields := formOf(t, lk.base, login.body)
	fields.Set("username", mcpUser)
	fields.Set("password", mcpPassword)
	consent := b.post(action, fields)
	for _, want := range []string{"Example tools", "Other API", w.mcpURL} {
		if !strings.Contains(consent.body, want) {
			t.Errorf("the consent page does not name %q:\n%s", want, consent.body)
		}
	}
	code := b.approve(lk.base, consent, nil).Get("code")
	redeem := func(extra string) *response {
		return lk.postForm(t, tokenPath(mcpRealm), "grant_type=authorization_code&client_id="+agent.ClientID+"&code="+url.QueryEscape(code)+
			"&redirect_uri="+url.QueryEscape(mcpRedirect)+"&code_verifier="+verifier+extra)
	}
	redeem("").checkError(t, 400, "invalid_target") // two resources granted: name one
	var set struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	r := redeem("&resource=" + url.QueryEscape(w.mcpURL))
	r.requireStatus(t, http.StatusOK)
	r.decode(t, &set)
	if aud := audOf(t, set.AccessToken); aud != w.mcpURL || set.Scope != "openid mcp:tools" {
		t.Errorf("code exchange for the MCP resource: aud %q scope %q", aud, set.Scope)
	}
	refresh := func(extra string) *response {
		return lk.postForm(t, tokenPath(mcpRealm), "grant_type=refresh_token&client_id="+agent.ClientID+"&refresh_token="+url.QueryEscape(set.RefreshToken)+extra)
	}
	// Narrowing to the other granted resource works; widening does not.
	refresh("&resource="+url.QueryEscape("https://unknown.example.test/")).checkError(t, 400, "invalid_target")
	r = refresh("&resource=" + url.QueryEscape(w.otherURL))
	r.requireStatus(t, http.StatusOK)
	r.decode(t, &set)
	if aud := audOf(t, set.AccessToken); aud != w.otherURL || set.Scope != "openid read" {
		t.Errorf("refresh for the other resource: aud %q scope %q", aud, set.Scope)
	}
	refresh("&scope=mcp:tools&resource="+url.QueryEscape(w.otherURL)).checkError(t, 400, "invalid_scope")

	// An unknown resource at authorization goes back as invalid_target.
	bad := b.get(strings.Replace(authURL, url.QueryEscape(w.otherURL), url.QueryEscape("https://unknown.example.test/"), 1))
	if q := redirectQuery(t, bad.location); bad.status != http.StatusFound || q.Get("error") != "invalid_target" {
		t.Errorf("unknown resource at authorization: %d %q", bad.status, bad.location)
	}
	// A deleted resource mints nothing.
	lk.do(t, http.MethodDelete, w.path("/resources/"+w.resources[w.mcpURL]), nil, withBearer(w.admin)).requireStatus(t, http.StatusNoContent)
	cc("resource="+url.QueryEscape(w.mcpURL)).checkError(t, 400, "invalid_target")
}

// Client ID metadata documents: the ways a document is refused, each an
// error page at authorization and invalid_client at the token endpoint,
// never a 500; the first use recorded as client.discovered, a changed
// document as a new one; a disabled client stays out.
func TestClientMetadataDocuments(t *testing.T) {
	t.Parallel()
	w := setUpMCP(t)
	lk := w.lk
	authorize := func(clientID string) pageResp {
		_, challenge := pkce()
		return newBrowser(t).get(lk.base + "/realms/" + mcpRealm + "/protocol/openid-connect/auth?" + url.Values{
			"client_id": {clientID}, "redirect_uri": {mcpRedirect}, "response_type": {"code"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {w.mcpURL},
		}.Encode())
	}
	tokenWith := func(clientID string) *response {
		return lk.postForm(t, tokenPath(mcpRealm), "grant_type=authorization_code&code=x&client_id="+url.QueryEscape(clientID)+
			"&redirect_uri="+url.QueryEscape(mcpRedirect)+"&code_verifier=0123456789012345678901234567890123456789abc")
	}
	mismatch := w.docs.set("/mismatch.json", docAnswer{body: cimdDocument("https://elsewhere.example.test/client.json", mcpRedirect)})
	big := w.docs.set("/big.json", docAnswer{body: `{"client_id":"x","pad":"` + strings.Repeat("a", 6<<10) + `"}`})
	slow := w.docs.set("/slow.json", docAnswer{body: "{}", delay: 7 * time.Second})
	html := w.docs.set("/page.json", docAnswer{body: "<html></html>", contentType: "text/html"})
	secret := w.docs.set("/secret.json", docAnswer{})
	w.docs.set("/secret.json", docAnswer{body: `{"client_id":"` + secret + `","client_secret":"s","redirect_uris":["` + mcpRedirect + `"]}`})
	for _, tc := range []struct{ name, clientID, says string }{
		{"a document whose client_id is another URL", mismatch, "does not equal the URL it was fetched from"},
		{"a private address", "https://10.0.0.1/client.json", "it resolves to 10.0.0.1, a private address"},
		{"the cloud metadata address", "https://169.254.169.254/latest/meta-data/client.json", "it resolves to 169.254.169.254, a link-local address"},
		{"an oversized document", big, "larger than 5120 bytes"},
		{"a slow document", slow, "within 5s"},
		{"not JSON", html, "not JSON"},
		{"a document holding a secret", secret, "must not hold client_secret"},
		{"a client_id URL without a path", "https://127.0.0.1:1", "a client_id URL has a path"},
	} {
		page := authorize(tc.clientID)
		if page.status != http.StatusBadRequest || page.location != "" || !strings.Contains(page.body, tc.says) {
			t.Errorf("%s: authorization answered %d %q, want the error page saying %q:\n%s", tc.name, page.status, page.location, tc.says, page.body)
		}
		tokenWith(tc.clientID).checkError(t, http.StatusUnauthorized, "invalid_client")
	}

	// A sound document: recorded once, at its first use.
	good := w.docs.set("/agent.json", docAnswer{})
	w.docs.set("/agent.json", docAnswer{body: cimdDocument(good, mcpRedirect)})
	if page := authorize(good); page.status != http.StatusOK || !strings.Contains(page.body, "Sign in") {
		t.Fatalf("a sound document: %d\n%s", page.status, page.body)
	}
	authorize(good)
	if n := lk.countEvents(t, w.admin, mcpRealm, "client.discovered"); n != 1 {
		t.Errorf("%d client.discovered events after two uses of one document, want 1", n)
	}
	if hits := w.docs.hitsOf("/agent.json"); hits != 1 {
		t.Errorf("the document was fetched %d times, want once (cached)", hits)
	}
	// Only listed hosts, when the realm lists some.
	w.admin2xx(t, http.MethodPut, w.path("/client-registration"), `{"cimd":{"enabled":true,"allowed_hosts":["claude.ai"]},"dynamic_registration":{"enabled":false,"open":false}}`)
	if page := authorize(good); page.status != http.StatusBadRequest || !strings.Contains(page.body, "not admitted by this realm") {
		t.Errorf("a host not allowed: %d\n%s", page.status, page.body)
	}
	// Disabled like any client.
	w.admin2xx(t, http.MethodPut, w.path("/client-registration"), `{"cimd":{"enabled":true,"allowed_hosts":[]},"dynamic_registration":{"enabled":false,"open":false}}`)
	w.admin2xx(t, http.MethodPost, w.path("/clients/"+url.PathEscape(good)+"/disable"), "")
	if page := authorize(good); page.status != http.StatusBadRequest || !strings.Contains(page.body, "unknown or disabled client") {
		t.Errorf("a disabled client: %d\n%s", page.status, page.body)
	}
	// Off: a URL is just an unknown client_id.
	w.admin2xx(t, http.MethodPut, w.path("/client-registration"), `{"cimd":{"enabled":false,"allowed_hosts":[]},"dynamic_registration":{"enabled":false,"open":false}}`)
	var md map[string]any
	lk.get(t, "/realms/"+mcpRealm+"/.well-known/openid-configuration").decode(t, &md)
	if md["client_id_metadata_document_supported"] != false || md["registration_endpoint"] != nil {
		t.Errorf("metadata with both off: %v, %v", md["client_id_metadata_document_supported"], md["registration_endpoint"])
	}
	if page := authorize(good); page.status != http.StatusBadRequest || !strings.Contains(page.body, "unknown or disabled client") {
		t.Errorf("metadata documents off: %d\n%s", page.status, page.body)
	}
}

// Dynamic registration (RFC 7591, RFC 7592): an initial access token works
// for its count of registrations and no more; without one, only public
// clients, and a limited number per address; the registration access
// token reads, updates and deletes the client.
func TestDynamicRegistration(t *testing.T) {
	t.Parallel()
	w := setUpMCP(t)
	lk := w.lk
	endpoint := "/realms/" + mcpRealm + "/clients-registrations/openid-connect"
	register := func(body string, opts ...reqOpt) *response {
		return lk.do(t, http.MethodPost, endpoint, strings.NewReader(body), append(opts, withContentType("application/json"))...)
	}
	var md map[string]any
	lk.get(t, "/.well-known/oauth-authorization-server/realms/"+mcpRealm).decode(t, &md)
	if md["registration_endpoint"] != w.issuer+"/clients-registrations/openid-connect" {
		t.Errorf("registration_endpoint = %v", md["registration_endpoint"])
	}

	// An initial access token for two registrations.
	var iat struct {
		ID, Token, Status string
	}
	w.admin2xx(t, http.MethodPost, w.path("/initial-access-tokens"), `{"max_uses":2,"expires_in":3600,"description":"CI"}`).decode(t, &iat)
	if iat.Token == "" || iat.Status != "active" {
		t.Fatalf("initial access token: %+v", iat)
	}
	confidential := `{"client_name":"Backend","grant_types":["client_credentials"],"scope":"read"}`
	var reg struct {
		ClientID          string `json:"client_id"`
		Secret            string `json:"client_secret"`
		RegistrationToken string `json:"registration_access_token"`
		RegistrationURI   string `json:"registration_client_uri"`
	}
	r := register(confidential, withBearer(iat.Token))
	r.requireStatus(t, http.StatusCreated)
	r.decode(t, &reg)
	if reg.Secret == "" || reg.RegistrationToken == "" || reg.RegistrationURI != w.issuer+"/clients-registrations/openid-connect/"+reg.ClientID {
		t.Fatalf("registration: %s", r)
	}
	requireToken(t, lk.postForm(t, tokenPath(mcpRealm), "grant_type=client_credentials", withBasic(reg.ClientID, reg.Secret)))
	register(confidential, withBearer(iat.Token)).requireStatus(t, http.StatusCreated)
	register(confidential, withBearer(iat.Token)).checkError(t, http.StatusUnauthorized, "invalid_token") // used past its count
	register(confidential, withBearer("nope.nope")).checkError(t, http.StatusUnauthorized, "invalid_token")
	register(`{"client_name":"x","scope":"management","grant_types":["client_credentials"]}`, withBearer(iat.Token)).checkError(t, http.StatusUnauthorized, "invalid_token")
	var list struct {
		Tokens []struct {
			Uses   int    `json:"uses"`
			Status string `json:"status"`
		} `json:"initial_access_tokens"`
	}
	w.admin2xx(t, http.MethodGet, w.path("/initial-access-tokens"), "").decode(t, &list)
	if len(list.Tokens) != 1 || list.Tokens[0].Uses != 2 || list.Tokens[0].Status != "used_up" {
		t.Errorf("initial access tokens: %+v", list.Tokens)
	}

	// RFC 7592: read, update, delete with the registration access token.
	mgmtPath := endpoint + "/" + reg.ClientID
	lk.get(t, mgmtPath, withBearer("wrong")).checkError(t, http.StatusUnauthorized, "invalid_token")
	lk.get(t, mgmtPath, withBearer(reg.RegistrationToken)).requireStatus(t, http.StatusOK)
	up := lk.do(t, http.MethodPut, mgmtPath, strings.NewReader(`{"client_id":"`+reg.ClientID+`","client_name":"Backend 2","grant_types":["client_credentials"],"scope":"read"}`),
		withBearer(reg.RegistrationToken), withContentType("application/json"))
	up.requireStatus(t, http.StatusOK)
	if !strings.Contains(up.String(), `"client_name":"Backend 2"`) {
		t.Errorf("update: %s", up)
	}
	lk.do(t, http.MethodDelete, mgmtPath, nil, withBearer(reg.RegistrationToken)).requireStatus(t, http.StatusNoContent)
	lk.postForm(t, tokenPath(mcpRealm), "grant_type=client_credentials", withBasic(reg.ClientID, reg.Secret)).checkError(t, http.StatusUnauthorized, "invalid_client")

	// Open registration: public clients only, a few per address.
	public := `{"client_name":"Agent","redirect_uris":["` + mcpRedirect + `"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`
	register(confidential).checkError(t, http.StatusBadRequest, "invalid_client_metadata")
	register(`{"redirect_uris":["http://evil.example.test/cb"],"token_endpoint_auth_method":"none"}`).checkError(t, http.StatusBadRequest, "invalid_redirect_uri")
	limited := false
	for i := 0; i < 8 && !limited; i++ {
		r := register(public)
		switch r.status {
		case http.StatusCreated:
		case http.StatusTooManyRequests:
			limited = r.header.Get("Retry-After") != ""
		default:
			t.Fatalf("open registration %d: %s", i, r)
		}
	}
	if !limited {
		t.Error("open registration was never limited (429 with Retry-After)")
	}
}

// private_key_jwt (RFC 7523): an assertion signed with the client's key
// authenticates it at the token, introspection and revocation endpoints;
// a replayed one, one for another audience, a long-lived one or one
// signed by another key is invalid_client. Keys may come from jwks_uri.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	w := setUpMCP(t)
	lk := w.lk
	key := newECKey(t)
	var svc clientCreated
	w.admin2xx(t, http.MethodPost, w.path("/clients"), `{"name":"signed","token_endpoint_auth_method":"private_key_jwt","jwks":`+key.publicSetJSONText+`,"scopes":["read"]}`).decode(t, &svc)
	if svc.ClientSecret != "" {
		t.Errorf("a private_key_jwt client was given a secret")
	}
	tokenURL := w.issuer + "/protocol/openid-connect/token"
	withAssertion := func(path, form, assertion string) *response {
		return lk.postForm(t, path, form+"&client_assertion_type="+url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")+
			"&client_assertion="+assertion)
	}
	a := key.assertion(t, svc.ClientID, w.issuer, uuid.NewString(), time.Minute)
	tok := requireToken(t, withAssertion(tokenPath(mcpRealm), "grant_type=client_credentials", a))
	withAssertion(tokenPath(mcpRealm), "grant_type=client_credentials", a).checkError(t, http.StatusUnauthorized, "invalid_client") // replayed
	requireToken(t, withAssertion(tokenPath(mcpRealm), "grant_type=client_credentials", key.assertion(t, svc.ClientID, tokenURL, uuid.NewString(), time.Minute)))
	for name, bad := range map[string]string{
		"another audience": key.assertion(t, svc.ClientID, "https://elsewhere.example.test", uuid.NewString(), time.Minute),
		"living an hour":   key.assertion(t, svc.ClientID, w.issuer, uuid.NewString(), time.Hour),
		"another key":      newECKey(t).assertion(t, svc.ClientID, w.issuer, uuid.NewString(), time.Minute),
		"another client's": key.assertion(t, "someone-else", w.issuer, uuid.NewString(), time.Minute),
		"no jti":           key.assertion(t, svc.ClientID, w.issuer, "", time.Minute),
		"already expired":  key.assertion(t, svc.ClientID, w.issuer, uuid.NewString(), -time.Minute),
		"not a JWT at all": "garbage",
	} {
		if r := withAssertion(tokenPath(mcpRealm), "grant_type=client_credentials", bad); r.status != http.StatusUnauthorized {
			t.Errorf("%s: %s", name, r)
		}
	}
	// The secret methods are not this client's.
	lk.postForm(t, tokenPath(mcpRealm), "grant_type=client_credentials", withBasic(svc.ClientID, "")).checkError(t, http.StatusUnauthorized, "invalid_client")
	// Introspection and revocation take assertions too (aud: the endpoint).
	introURL := tokenURL + "/introspect"
	var intro struct {
		Active bool `json:"active"`
	}
	withAssertion(tokenPath(mcpRealm)+"/introspect", "token="+tok.AccessToken, key.assertion(t, svc.ClientID, introURL, uuid.NewString(), time.Minute)).decode(t, &intro)
	if !intro.Active {
		t.Error("introspection with an assertion: inactive")
	}
	withAssertion("/realms/"+mcpRealm+"/protocol/openid-connect/revoke", "token="+tok.AccessToken,
		key.assertion(t, svc.ClientID, w.issuer, uuid.NewString(), time.Minute)).requireStatus(t, http.StatusOK)

	// Keys from jwks_uri (fetched like metadata documents).
	remote := newECKey(t)
	jwksURL := w.docs.set("/jwks.json", docAnswer{body: remote.publicSetJSONText})
	var svc2 clientCreated
	w.admin2xx(t, http.MethodPost, w.path("/clients"), `{"name":"signed remote","token_endpoint_auth_method":"private_key_jwt","jwks_uri":"`+jwksURL+`","scopes":["read"]}`).decode(t, &svc2)
	requireToken(t, withAssertion(tokenPath(mcpRealm), "grant_type=client_credentials", remote.assertion(t, svc2.ClientID, w.issuer, uuid.NewString(), time.Minute)))
	var md map[string]any
	lk.get(t, "/realms/"+mcpRealm+"/.well-known/openid-configuration").decode(t, &md)
	if !strings.Contains(strings.Join(toStrings(md["token_endpoint_auth_methods_supported"]), " "), "private_key_jwt") ||
		strings.Join(toStrings(md["token_endpoint_auth_signing_alg_values_supported"]), " ") != "ES256 RS256 EdDSA" {
		t.Errorf("discovery: %v %v", md["token_endpoint_auth_methods_supported"], md["token_endpoint_auth_signing_alg_values_supported"])
	}
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
