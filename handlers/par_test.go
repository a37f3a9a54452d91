package handlers_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
)

const webRedirect = "https://app.example.test/cb"

// webClient is a confidential code-flow client; par requires it to push
// its requests.
func (w *world) webClient(par bool) (id, secret string) {
	return w.client(domain.ClientSettings{
		Name: "web", Kind: domain.KindUserApp, RedirectURIs: []string{webRedirect},
		Scopes: []string{domain.ScopeOpenID, "read"}, RequirePAR: par,
	})
}

const pkceVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

func pkceChallenge() string {
	sum := sha256.Sum256([]byte(pkceVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// codeRequest is an authorization request of a web client.
func codeRequest(clientID string) url.Values {
	return url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {webRedirect}, "scope": {"openid read"},
		"state": {"s-1"}, "code_challenge": {pkceChallenge()}, "code_challenge_method": {"S256"},
	}
}

// push sends an authorization request to the PAR endpoint.
func (w *world) push(params url.Values, set func(*http.Request)) answer {
	w.t.Helper()
	return w.post(w.endpoint("/protocol/openid-connect/ext/par/request"), params, set)
}

// authorizeWith signs bob in on an authorization request (its query) and
// allows, unless his earlier consent stands; it returns the redirect back
// to the client.
func (b *browser) authorizeWith(query url.Values) url.Values {
	t := b.w.t
	t.Helper()
	login := b.get(b.w.endpoint("/protocol/openid-connect/auth?" + query.Encode()))
	if login.status != http.StatusOK {
		t.Fatalf("authorization request: %d %s", login.status, login.body)
	}
	f := hidden(t, login)
	f.Set("username", "bob")
	f.Set("password", bobPassword)
	consent := b.post(b.w.endpoint("/login-actions/authenticate"), f)
	if consent.status == http.StatusSeeOther {
		return redirected(t, consent) // consent given before
	}
	f = hidden(t, consent)
	f.Set("action", "approve")
	back := b.post(b.w.endpoint("/login-actions/consent"), f)
	return redirected(t, back)
}

// redirected is the query of a redirect to the web client.
func redirected(t *testing.T, a answer) url.Values {
	t.Helper()
	loc := a.header.Get("Location")
	if a.status/100 != 3 || !strings.HasPrefix(loc, webRedirect) {
		t.Fatalf("want a redirect to the client, got %d %q %s", a.status, loc, a.body)
	}
	u, _ := url.Parse(loc)
	return u.Query()
}

// Pushed authorization requests (RFC 9126): the client authenticates as
// at the token endpoint and gets a request_uri for 60 s; the browser
// brings only client_id and request_uri, and the flow goes on with what
// was pushed (state included) to a code the client redeems. A request_uri
// works once, expires, and is refused as an error page (nothing of the
// request can be trusted, so nothing is redirected). Errors at the PAR
// endpoint are JSON.
func TestPushedAuthorizationRequests(t *testing.T) {
	w := newWorld(t)
	web, secret := w.webClient(false)

	a := w.push(codeRequest(web), basicAuth(web, secret))
	if a.status != http.StatusCreated || !strings.HasPrefix(a.str(t, "request_uri"), domain.RequestURIPrefix) || a.json(t)["expires_in"] != float64(60) {
		t.Fatalf("push: %d %s", a.status, a.body)
	}
	requestURI := a.str(t, "request_uri")
	if strings.Contains(a.header.Get("Cache-Control"), "no-store") == false {
		t.Errorf("push answer Cache-Control %q, want no-store", a.header.Get("Cache-Control"))
	}
	back := w.browser().authorizeWith(url.Values{"client_id": {web}, "request_uri": {requestURI}})
	if back.Get("code") == "" || back.Get("state") != "s-1" {
		t.Fatalf("redirect after a pushed request: %v", back)
	}
	tok := w.post(w.endpoint("/protocol/openid-connect/token"), url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Get("code")}, "redirect_uri": {webRedirect}, "code_verifier": {pkceVerifier},
	}, basicAuth(web, secret))
	if tok.status != http.StatusOK {
		t.Fatalf("code of a pushed request: %d %s", tok.status, tok.body)
	}

	t.Run("RequestURIReused", func(t *testing.T) {
		page := w.browser().get(w.endpoint("/protocol/openid-connect/auth?" + url.Values{"client_id": {web}, "request_uri": {requestURI}}.Encode()))
		if page.status != http.StatusBadRequest || page.header.Get("Location") != "" {
			t.Fatalf("a request_uri used twice: %d %s", page.status, page.body)
		}
		contains(t, page, "invalid_request_uri")
	})
	t.Run("RequestURIExpired", func(t *testing.T) {
		uri := w.push(codeRequest(web), basicAuth(web, secret)).str(t, "request_uri")
		w.clock.advance(61 * time.Second)
		page := w.browser().get(w.endpoint("/protocol/openid-connect/auth?" + url.Values{"client_id": {web}, "request_uri": {uri}}.Encode()))
		if page.status != http.StatusBadRequest {
			t.Fatalf("a request_uri after 61 s: %d %s", page.status, page.body)
		}
		contains(t, page, "expired")
	})
	t.Run("AnotherClientsRequestURI", func(t *testing.T) {
		uri := w.push(codeRequest(web), basicAuth(web, secret)).str(t, "request_uri")
		other, _ := w.webClient(false)
		page := w.browser().get(w.endpoint("/protocol/openid-connect/auth?" + url.Values{"client_id": {other}, "request_uri": {uri}}.Encode()))
		if page.status != http.StatusBadRequest {
			t.Fatalf("another client's request_uri: %d %s", page.status, page.body)
		}
	})
	t.Run("JSONErrors", func(t *testing.T) {
		bad := codeRequest(web)
		bad.Set("redirect_uri", "https://evil.example.test/cb")
		wantError(t, "an unregistered redirect_uri", w.push(bad, basicAuth(web, secret)), http.StatusBadRequest, domain.ErrInvalidRequest)
		bad = codeRequest(web)
		bad.Del("code_challenge")
		wantError(t, "no PKCE", w.push(bad, basicAuth(web, secret)), http.StatusBadRequest, domain.ErrInvalidRequest)
		bad = codeRequest(web)
		bad.Set("request_uri", "urn:ietf:params:oauth:request_uri:x.y")
		wantError(t, "request_uri in a push", w.push(bad, basicAuth(web, secret)), http.StatusBadRequest, domain.ErrInvalidRequest)
		wantError(t, "a wrong secret", w.push(codeRequest(web), basicAuth(web, "wrong")), http.StatusUnauthorized, domain.ErrInvalidClient)
		wantError(t, "no client authentication", w.push(codeRequest(web), nil), http.StatusUnauthorized, domain.ErrInvalidClient)
	})
}

// A client that requires pushed requests, or any client of a realm that
// does, is refused a plain authorization request (back to its redirect
// URI with invalid_request) and accepted with a request_uri; discovery
// says what the realm requires.
func TestPushedRequestsRequired(t *testing.T) {
	w := newWorld(t)
	strict, secret := w.webClient(true)
	plain := w.browser().get(w.endpoint("/protocol/openid-connect/auth?" + codeRequest(strict).Encode()))
	if q := redirected(t, plain); q.Get("error") != domain.ErrInvalidRequest || !strings.Contains(q.Get("error_description"), "push") {
		t.Fatalf("a plain request of a client requiring PAR: %v", q)
	}
	uri := w.push(codeRequest(strict), basicAuth(strict, secret)).str(t, "request_uri")
	if back := w.browser().authorizeWith(url.Values{"client_id": {strict}, "request_uri": {uri}}); back.Get("code") == "" {
		t.Fatalf("a pushed request of a client requiring PAR: %v", back)
	}

	loose, _ := w.webClient(false)
	if back := w.browser().authorizeWith(codeRequest(loose)); back.Get("code") == "" {
		t.Fatalf("a plain request while the realm does not require PAR: %v", back)
	}
	w.settings(func(s *domain.RealmSettings) { s.RequirePAR = true })
	plain = w.browser().get(w.endpoint("/protocol/openid-connect/auth?" + codeRequest(loose).Encode()))
	if q := redirected(t, plain); q.Get("error") != domain.ErrInvalidRequest {
		t.Fatalf("a plain request while the realm requires PAR: %v", q)
	}
	meta := w.get(w.endpoint("/.well-known/openid-configuration"), nil).json(t)
	if meta["require_pushed_authorization_requests"] != true || meta["pushed_authorization_request_endpoint"] != w.endpoint("/protocol/openid-connect/ext/par/request") ||
		meta["device_authorization_endpoint"] != w.endpoint("/protocol/openid-connect/auth/device") {
		t.Fatalf("discovery: %v", meta)
	}
}
