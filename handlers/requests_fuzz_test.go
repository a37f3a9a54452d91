package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
	"github.com/latchkeyhq/latchkey/realms"
)

// Fuzz targets of whole requests against the real service in-process
// (embedded JetStream): admin API bodies and tokens at introspection.
// Seeds are below and in testdata/fuzz/<target>; run longer with .ci/fuzz.

// adminPaths are the admin requests whose JSON bodies are fuzzed: client,
// user and node bodies.
var adminPaths = []struct{ method, path string }{
	{http.MethodPost, "/admin/realms/acme/clients"},
	{http.MethodPut, "/admin/realms/acme/clients/%s"},
	{http.MethodPatch, "/admin/realms/acme/clients/%s"},
	{http.MethodPost, "/admin/realms/acme/users"},
	{http.MethodPut, "/admin/realms/acme/users/%s"},
	{http.MethodPost, "/admin/realms/acme/nodes"},
	{http.MethodPatch, "/admin/realms/acme/nodes/org"},
}

// Any body sent to the admin API's client, user and node requests is
// answered without a 5xx; a body refused (4xx) changes nothing.
func FuzzAdminBodies(f *testing.F) {
	for _, s := range []struct {
		path int
		body string
	}{
		{0, `{"name":"app","kind":"user_app","redirect_uris":["https://app.example.com/cb"],"scopes":["read"]}`},
		{0, `{"name":"Pаypal"}`},
		{0, `{"name":"x","access_preset":"full","access_token_lifetime":86400}`},
		{1, `{"name":"renamed","scopes":["read"],"version":1}`},
		{2, `{"description":null,"roles":[{"node":"org","role":"admin"}]}`},
		{3, `{"username":"alice","password":"correct horse battery","memberships":[{"node":"org","role":"viewer"}]}`},
		{3, `{"username":"ALICE","email":"not an address"}`},
		{4, `{"username":"bob","display_name":"Bob"}`},
		{5, `{"slug":"team","kind":"team","parent":"org","name":"Team"}`},
		{5, `{"slug":"Bad Slug","kind":"folder"}`},
		{6, `{"name":"Αcme","confirm_high_risk":true}`},
		{0, `{"name":1}`}, {0, `[]`}, {0, `{"name":"a","name":"b"}`}, {3, `{"unknown":true}`}, {5, "\xff"},
	} {
		f.Add(uint8(s.path), []byte(s.body))
	}
	fx := newFixture(f)
	admin := managementToken(f, fx)
	ctx := context.Background()
	if _, err := fx.realm.Structure().CreateNode(ctx, domain.CreateNode{Slug: "org", Kind: domain.NodeOrganization}, sysMeta()); err != nil {
		f.Fatal(err)
	}
	user, err := fx.realm.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "carol"}}, sysMeta())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		p := adminPaths[int(which)%len(adminPaths)]
		path := p.path
		switch {
		case bytes.Contains([]byte(path), []byte("clients/%s")):
			path = fmt.Sprintf(path, fx.client)
		case bytes.Contains([]byte(path), []byte("users/%s")):
			path = fmt.Sprintf(path, user.ID)
		}
		before := realmState(fx.realm)
		req := httptest.NewRequest(p.method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if p.method == http.MethodPatch && bytes.Contains([]byte(path), []byte("clients")) {
			req.Header.Set("Content-Type", "application/merge-patch+json")
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		rec := httptest.NewRecorder()
		fx.e.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %s %q: %d %s", p.method, path, body, rec.Code, rec.Body)
		case rec.Code >= 400:
			if after := realmState(fx.realm); after != before {
				t.Fatalf("%s %s %q refused (%d %s), and the realm changed:\n%s\n%s", p.method, path, body, rec.Code, rec.Body, before, after)
			}
		}
	})
}

// realmState sums up what admin bodies can change: clients, users and
// nodes, each with its version.
func realmState(rl *realms.Realm) string {
	var b bytes.Buffer
	page, _ := rl.Clients().Page(projections.ClientFilter{}, "", 1000)
	for _, c := range page.Clients {
		fmt.Fprintf(&b, "client %s@%d ", c.ID, c.Version)
	}
	for _, u := range rl.Users().Page("", "", 1000).Users {
		fmt.Fprintf(&b, "user %s@%d ", u.ID, u.Version)
	}
	for _, n := range rl.Structure().Nodes() {
		fmt.Fprintf(&b, "node %s@%d ", n.Slug, n.Version)
	}
	return b.String()
}

// Any token sent to introspection is answered 200; only the exact bytes of
// a token the realm issued are active.
func FuzzIntrospectToken(f *testing.F) {
	fx := newFixture(f)
	issued := accessToken(f, fx.post("/realms/acme/protocol/openid-connect/token", url.Values{"grant_type": {"client_credentials"}}, basic(fx)))
	f.Add(issued)
	f.Add(issued[:len(issued)-1] + "A")
	f.Add(issued + ".")
	f.Add("eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4IiwiaWF0IjoxfQ.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		rec := fx.post("/realms/acme/protocol/openid-connect/token/introspect", url.Values{"token": {token}}, basic(fx))
		active := bytes.Contains(rec.Body.Bytes(), []byte(`"active":true`))
		switch {
		case token == "":
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("no token: %d %s", rec.Code, rec.Body)
			}
		case rec.Code != http.StatusOK:
			t.Fatalf("token %q: %d %s", token, rec.Code, rec.Body)
		case active != (token == issued):
			t.Fatalf("token %q: active %v", token, active)
		}
	})
}

func basic(fx *fixture) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(fx.client, fx.secret) }
}

func sysMeta() eventstore.Meta {
	return eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
}

// managementToken is a token of a realm-wide management client of acme.
func managementToken(tb testing.TB, fx *fixture) string {
	tb.Helper()
	created, err := fx.realm.Clients().Create(context.Background(), "", domain.ClientSettings{Name: "admin", Scopes: []string{domain.ScopeManagement}}, false, sysMeta())
	if err != nil {
		tb.Fatal(err)
	}
	return accessToken(tb, fx.post("/realms/acme/protocol/openid-connect/token", url.Values{"grant_type": {"client_credentials"}},
		func(r *http.Request) { r.SetBasicAuth(created.Client.ID, created.Secret) }))
}
