package main

// The admin API with users' tokens: realm roles decide, read at each
// request; the actions are the user's, through the app's client_id.

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func TestAdminAPIUnderRealmRoles(t *testing.T) {
	t.Parallel()
	const bootstrap = "e2e-realm-roles-bootstrap-secret-00000001"
	lk := startLatchkey(t, serverOpts{name: "realm-roles", data: t.TempDir(), bootstrapSecret: bootstrap})
	admin := lk.adminToken(t, bootstrap).AccessToken
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	r := lk.postJSON(t, "/admin/realms/acme/users", `{"username":"mia","password":"mia password 00001","realm_roles":["client-manager","client-manager"]}`, withBearer(admin))
	r.requireStatus(t, http.StatusCreated)
	var mia struct {
		ID         string   `json:"id"`
		RealmRoles []string `json:"realm_roles"`
	}
	r.decode(t, &mia)
	if strings.Join(mia.RealmRoles, ",") != "client-manager" {
		t.Fatalf("created with realm roles %v", mia.RealmRoles)
	}
	// A CLI of the realm that may ask for the management scope.
	var cli clientCreated
	r = lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"cli","type":"public","redirect_uris":["http://127.0.0.1/callback"],"scopes":["openid","management"]}`, withBearer(admin))
	r.requireStatus(t, http.StatusCreated)
	r.decode(t, &cli)
	cfg := &oauth2.Config{ClientID: cli.ClientID, RedirectURL: "http://127.0.0.1/callback", Scopes: []string{"openid", "management"},
		Endpoint: oauth2.Endpoint{AuthURL: lk.base + "/realms/acme/protocol/openid-connect/auth", TokenURL: lk.base + tokenPath("acme"), AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	q := newBrowser(t).signIn(lk.base, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "mia", "mia password 00001", nil)
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("mia's token: %v", err)
	}
	user := tok.AccessToken

	// A client manager: the clients, not the users, nothing of master,
	// and no client with the management scope.
	lk.get(t, "/admin/realms/acme/clients", withBearer(user)).requireStatus(t, http.StatusOK)
	lk.get(t, "/admin/realms/acme/users", withBearer(user)).checkError(t, http.StatusForbidden, "insufficient_scope")
	lk.get(t, "/admin/realms/acme/audit", withBearer(user)).checkError(t, http.StatusForbidden, "insufficient_scope")
	lk.get(t, "/admin/realms/master/clients", withBearer(user)).checkError(t, http.StatusForbidden, "insufficient_scope")
	lk.postJSON(t, "/admin/realms", `{"name":"mine"}`, withBearer(user)).checkError(t, http.StatusForbidden, "insufficient_scope")
	lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"escalate","scopes":["management"]}`, withBearer(user)).checkError(t, http.StatusForbidden, "insufficient_scope")
	lk.do(t, http.MethodPost, "/admin/realms/acme/clients/"+cli.ClientID+"/disable", nil, withBearer(user)).checkError(t, http.StatusForbidden, "insufficient_scope")
	created := lk.createClient(t, user, "acme", `{"name":"reporting","scopes":["read"]}`)
	if list := realmNames(t, lk, user); strings.Join(list, ",") != "acme" {
		t.Errorf("a client manager of acme lists realms %v", list)
	}

	// The event names mia as actor and the CLI as client.
	evs := lk.events(t, admin, "acme", "after_seq=0&limit=1000")
	found := false
	for _, e := range evs.Events {
		if e.Type == "client.created" && e.Aggregate == "client/"+created.ClientID {
			found = true
			if e.Actor != "user:"+mia.ID || e.ClientID != cli.ClientID {
				t.Errorf("client.created by mia: actor %q client_id %q", e.Actor, e.ClientID)
			}
		}
	}
	if !found {
		t.Error("no client.created for mia's client")
	}

	// Roles are read at each request: auditor now, clients no more.
	r = lk.do(t, http.MethodPut, "/admin/realms/acme/users/"+mia.ID+"/realm-roles", strings.NewReader(`{"realm_roles":["auditor"]}`), withBearer(admin), withContentType("application/json"))
	r.requireStatus(t, http.StatusOK)
	lk.get(t, "/admin/realms/acme/audit", withBearer(user)).requireStatus(t, http.StatusOK)
	lk.get(t, "/admin/realms/acme/audit/verify", withBearer(user)).requireStatus(t, http.StatusOK)
	lk.get(t, "/admin/realms/acme/clients", withBearer(user)).checkError(t, http.StatusForbidden, "insufficient_scope")
	lk.do(t, http.MethodPut, "/admin/realms/acme/users/"+mia.ID+"/realm-roles", strings.NewReader(`{"realm_roles":["root"]}`), withBearer(admin), withContentType("application/json")).
		checkError(t, http.StatusBadRequest, "invalid_request")
	lk.do(t, http.MethodPut, "/admin/realms/acme/users/"+mia.ID+"/realm-roles", strings.NewReader(`{}`), withBearer(admin), withContentType("application/json")).
		checkError(t, http.StatusBadRequest, "invalid_request")

	// The built-in console client is not deleted.
	lk.do(t, http.MethodDelete, "/admin/realms/acme/clients/latchkey-console", nil, withBearer(admin)).checkError(t, http.StatusConflict, "conflict")
	var report struct {
		Tampered bool   `json:"tampered"`
		Realm    string `json:"realm"`
		Messages int    `json:"messages"`
	}
	lk.get(t, "/admin/realms/acme/audit/verify", withBearer(admin)).decode(t, &report)
	if report.Tampered || report.Realm != "acme" || report.Messages == 0 {
		t.Errorf("verify: %+v", report)
	}
	// Without its management scope, a user's token administers nothing.
	lk.do(t, http.MethodPatch, "/admin/realms/acme/clients/"+cli.ClientID, strings.NewReader(`{"scopes":["openid"]}`), withBearer(admin), withContentType("application/json")).requireStatus(t, http.StatusOK)
	r = lk.do(t, http.MethodPut, "/admin/realms/acme/users/"+mia.ID+"/realm-roles", strings.NewReader(`{"realm_roles":["realm-admin"]}`), withBearer(admin), withContentType("application/json"))
	r.requireStatus(t, http.StatusOK)
	lk.get(t, "/admin/realms/acme/audit", withBearer(user)).checkError(t, http.StatusForbidden, "insufficient_scope")
}
