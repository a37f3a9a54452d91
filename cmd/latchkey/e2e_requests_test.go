package main

// End-to-end: the smaller hardening of issue 11 item 8: the headers of the
// sign-in pages, response_mode, PKCE for confidential clients as a realm
// setting, codes spent by a failed redemption, and names that mix
// lookalike scripts.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPageHeadersAndAuthorizationRequestRules(t *testing.T) {
	t.Parallel()
	const secret = "bootstrap-secret-for-request-rules-e2e"
	lk := startLatchkey(t, serverOpts{name: "request rules", data: t.TempDir(), bootstrapSecret: secret})
	w := setUpLimits(t, lk, secret)

	// The sign-in page: not sniffed, no Referer to where it leads, no
	// <base> to send its form elsewhere; no HSTS under an http URL.
	login := lk.get(t, w.authURL)
	login.requireStatus(t, http.StatusOK)
	login.checkHeader(t, "X-Content-Type-Options", "nosniff")
	login.checkHeader(t, "Referrer-Policy", "no-referrer")
	if csp := login.header.Get("Content-Security-Policy"); !strings.Contains(csp, "base-uri 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if h := login.header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("HSTS under an http public URL: %q", h)
	}

	// response_mode other than query: the error page, no redirect.
	for mode, want := range map[string]int{"fragment": http.StatusBadRequest, "form_post": http.StatusBadRequest, "query": http.StatusOK} {
		r := lk.get(t, w.authURL+"&response_mode="+mode)
		if r.status != want || r.header.Get("Location") != "" {
			t.Errorf("response_mode=%s: %d %q, want %d and no redirect", mode, r.status, r.header.Get("Location"), want)
		}
		if want == http.StatusBadRequest && !strings.Contains(string(r.body), "response_mode "+mode+" is not supported") {
			t.Errorf("response_mode=%s: the page does not say why:\n%s", mode, r.body)
		}
	}

	// A new realm requires PKCE of confidential clients; a settings PUT
	// without require_pkce keeps it; it can be turned off.
	settings := func() map[string]any {
		var v struct {
			Settings map[string]any `json:"settings"`
		}
		lk.get(t, "/admin/realms/acme", withBearer(w.admin)).decode(t, &v)
		return v.Settings
	}
	if s := settings(); s["require_pkce"] != true {
		t.Fatalf("a new realm's settings: %v, want require_pkce true", s)
	}
	put := func(body string) {
		lk.do(t, http.MethodPut, "/admin/realms/acme/settings", strings.NewReader(body), withBearer(w.admin), withContentType("application/json")).requireStatus(t, http.StatusOK)
	}
	put(`{"checkpoint_every":500}`)
	if s := settings(); s["require_pkce"] != true || s["checkpoint_every"] != float64(500) {
		t.Fatalf("after a PUT without require_pkce: %v", s)
	}
	put(`{"require_pkce":false}`)
	if s := settings(); s["require_pkce"] != false {
		t.Fatalf("after require_pkce false: %v", s)
	}

	// A code whose redemption failed on its verifier is spent: the right
	// verifier after it fails too.
	code := newBrowser(t).signIn(lk.base, lk.base+w.authURL, "alice", alicePassword, nil).Get("code")
	exchange := func(verifier string) *response {
		return lk.postForm(t, tokenPath("acme"), url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {w.app},
			"redirect_uri": {"http://127.0.0.1/callback"}, "code_verifier": {verifier}}.Encode())
	}
	exchange(strings.Repeat("x", 43)).checkError(t, http.StatusBadRequest, "invalid_grant")
	if e := exchange(w.verifier).checkError(t, http.StatusBadRequest, "invalid_grant"); e.Description != "the authorization code was spent by a failed redemption" {
		t.Errorf("the right verifier after a wrong one: %q", e.Description)
	}

	// Names shown at consent or in the tree that mix Latin with Cyrillic
	// or Greek letters need confirmation.
	mixed := "Pаypal" // a Cyrillic а
	conflict := lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"`+mixed+`"}`, withBearer(w.admin))
	if e := conflict.checkError(t, http.StatusConflict, "confirmation_required"); !strings.Contains(e.Description, "mixes Latin and Cyrillic") {
		t.Errorf("a mixed-script client name: %q", e.Description)
	}
	lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"`+mixed+`","confirm_high_risk":true}`, withBearer(w.admin)).requireStatus(t, http.StatusCreated)
	lk.postJSON(t, "/admin/realms/acme/nodes", `{"slug":"pay","name":"`+mixed+`","kind":"organization"}`, withBearer(w.admin)).
		checkError(t, http.StatusConflict, "confirmation_required")
	lk.postJSON(t, "/admin/realms/acme/nodes", `{"slug":"pay","name":"Pay","kind":"organization"}`, withBearer(w.admin)).requireStatus(t, http.StatusCreated)
	rename := func(body string) *response {
		return lk.do(t, http.MethodPatch, "/admin/realms/acme/nodes/pay", strings.NewReader(body), withBearer(w.admin), withContentType("application/json"))
	}
	rename(`{"name":"`+mixed+`"}`).checkError(t, http.StatusConflict, "confirmation_required")
	var node struct{ Name string }
	r := rename(`{"name":"` + mixed + `","confirm_high_risk":true}`)
	r.requireStatus(t, http.StatusOK)
	if json.Unmarshal(r.body, &node); node.Name != mixed {
		t.Errorf("a confirmed rename: %s", r.body)
	}
}
