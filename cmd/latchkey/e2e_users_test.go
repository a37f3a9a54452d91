package main

// End-to-end: the users admin API (create, read, list, update, password,
// memberships, disable, enable, delete), its events, and the UI-sessions
// admin view, against the real binary.

import (
	"encoding/json"
	"fmt"
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

// ---- helpers (prefixed us to stay clear of other test files) ----

// usMembership is a membership as the API shows it.
type usMembership struct {
	Node string `json:"node"`
	Role string `json:"role"`
}

// usUser is a user view of the admin API.
type usUser struct {
	ID          string         `json:"id"`
	Username    string         `json:"username"`
	Email       string         `json:"email"`
	DisplayName string         `json:"display_name"`
	Status      string         `json:"status"`
	Memberships []usMembership `json:"memberships"`
	HasPassword bool           `json:"has_password"`
	Version     uint64         `json:"version"`
}

// usViewMembers are the only members a user view may have.
var usViewMembers = []string{"id", "username", "email", "display_name", "status", "memberships", "realm_roles", "has_password", "version"}

// usDecode decodes a user answer, checks it holds exactly the view's
// members (no password, no hash) and that memberships is a list.
func usDecode(t *testing.T, r *response) usUser {
	t.Helper()
	var raw map[string]any
	r.decode(t, &raw)
	for k := range raw {
		if !slices.Contains(usViewMembers, k) {
			t.Errorf("user view has member %q:\n%s", k, r)
		}
	}
	if _, ok := raw["memberships"].([]any); !ok {
		t.Errorf("user view: memberships is %v, want a list:\n%s", raw["memberships"], r)
	}
	if strings.Contains(string(r.body), "$argon2id$") {
		t.Errorf("user view shows a password hash:\n%s", r)
	}
	var u usUser
	r.decode(t, &u)
	if u.Version == 0 {
		t.Errorf("user version is 0:\n%s", r)
	}
	return u
}

// usCreate posts a user and requires 201 with its Location.
func usCreate(t *testing.T, e *lcEnv, body string) usUser {
	t.Helper()
	r := e.postJSON(t, "/users", body)
	r.requireStatus(t, http.StatusCreated)
	u := usDecode(t, r)
	if !uuidPattern.MatchString(u.ID) {
		t.Errorf("user id %q is not a UUID:\n%s", u.ID, r)
	}
	r.checkHeader(t, "Location", e.path("/users/"+u.ID))
	return u
}

// usPut sends a JSON PUT.
func usPut(t *testing.T, e *lcEnv, suffix, body string) *response {
	t.Helper()
	return e.send(t, http.MethodPut, suffix, "application/json", body)
}

// usStart is a server with realm acme and nodes acme-org, team-a and team-b.
func usStart(t *testing.T, name string) *lcEnv {
	t.Helper()
	e := lcStart(t, name)
	for _, n := range []string{
		`{"slug":"acme-org","name":"Acme","kind":"organization"}`,
		`{"slug":"team-a","name":"Team A","kind":"team","parent":"acme-org"}`,
		`{"slug":"team-b","name":"Team B","kind":"team","parent":"acme-org"}`,
	} {
		e.postJSON(t, "/nodes", n).requireStatus(t, http.StatusCreated)
	}
	return e
}

// usList GETs a page of users.
type usPage struct {
	Users      []usUser `json:"users"`
	NextCursor string   `json:"next_cursor"`
	Total      int      `json:"total"`
}

func usList(t *testing.T, e *lcEnv, query string) usPage {
	t.Helper()
	r := e.get(t, "/users?"+query)
	r.requireStatus(t, http.StatusOK)
	var p usPage
	r.decode(t, &p)
	if p.Users == nil {
		t.Errorf("users list without a users array:\n%s", r)
	}
	return p
}

func usNames(p usPage) []string {
	out := make([]string, 0, len(p.Users))
	for _, u := range p.Users {
		out = append(out, u.Username)
	}
	return out
}

// usNoPassword fails if body shows any of the passwords or an argon2id hash.
func usNoPassword(t *testing.T, what string, body string, passwords ...string) {
	t.Helper()
	for _, pw := range passwords {
		if strings.Contains(body, pw) {
			t.Errorf("%s contains the password %q:\n%s", what, pw, body)
		}
	}
	if strings.Contains(body, "$argon2id$") {
		t.Errorf("%s contains an argon2id hash:\n%s", what, body)
	}
}

const usGhost = "00000000-0000-4000-8000-000000000000"

// ---- the lifecycle and its events ----

func TestUserAdminLifecycle(t *testing.T) {
	t.Parallel()
	e := usStart(t, "users-lifecycle")
	const pw1, pw2 = "correct horse battery staple", "Tr0ub4dor&3-but-longer"

	var alice usUser
	t.Run("create", func(t *testing.T) {
		alice = usCreate(t, e, `{"username":"Alice","email":"alice@example.com","display_name":"Alice Liddell",
			"password":"`+pw1+`","memberships":[{"node":"team-a","role":"editor"}]}`)
		want := usUser{ID: alice.ID, Username: "Alice", Email: "alice@example.com", DisplayName: "Alice Liddell", Status: "enabled",
			Memberships: []usMembership{{"team-a", "editor"}}, HasPassword: true, Version: alice.Version}
		if !reflect.DeepEqual(alice, want) {
			t.Errorf("created user = %+v, want %+v", alice, want)
		}
		bob := usCreate(t, e, `{"username":"bob"}`)
		if bob.HasPassword || bob.Status != "enabled" || len(bob.Memberships) != 0 || bob.Email != "" {
			t.Errorf("user created without password or memberships = %+v", bob)
		}
		// Surrounding spaces are trimmed from the username.
		if c := usCreate(t, e, `{"username":"  carol  ","memberships":[]}`); c.Username != "carol" {
			t.Errorf("username %q, want carol", c.Username)
		}
	})
	if alice.ID == "" {
		t.Fatal("no user to go on with")
	}

	t.Run("create refused", func(t *testing.T) {
		for _, name := range []string{"alice", "ALICE", "Alice"} {
			r := e.postJSON(t, "/users", `{"username":"`+name+`","password":"another long password"}`)
			if er := lcError(t, r, http.StatusConflict, "conflict"); !strings.Contains(er.Description, name) {
				t.Errorf("409 for %q does not name the username:\n%s", name, r)
			}
		}
		r := e.postJSON(t, "/users", `{"username":"bad name!","email":"not-an-address","display_name":"x","password":"short",
			"memberships":[{"node":"nowhere","role":"viewer"},{"node":"team-a","role":"owner"}]}`)
		requireDetails(t, r, "username", `"not-an-address"`, "password", `"nowhere"`, `"owner"`)
		usNoPassword(t, "400 answer", string(r.body), "short")
		requireDetails(t, e.postJSON(t, "/users", `{"username":""}`), "username")
		requireDetails(t, e.postJSON(t, "/users", `{"username":"dave","display_name":"`+strings.Repeat("d", 201)+`"}`), "display_name")
		requireDetails(t, e.postJSON(t, "/users", `{"username":"`+strings.Repeat("u", 101)+`"}`), "username")
		if blank := usCreate(t, e, `{"username":"blank","display_name":"   "}`); blank.DisplayName != "" {
			t.Errorf("display_name of spaces kept as %q, want it blank (the username is shown)", blank.DisplayName)
		}
		e.postJSON(t, "/users", `{"username":"dave","secret":"x"}`).checkError(t, http.StatusBadRequest, "invalid_request")
		e.postJSON(t, "/users", `{"username":"dave"`).checkError(t, http.StatusBadRequest, "invalid_request")
		e.postJSON(t, "/users", `{"username":"dave","memberships":"team-a"}`).checkError(t, http.StatusBadRequest, "invalid_request")
		e.send(t, http.MethodPost, "/users", "text/plain", `{"username":"dave"}`).checkError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
		if p := usList(t, e, "q=dave"); p.Total != 0 {
			t.Errorf("a refused create left users behind: %v", usNames(p))
		}
		e.lk.postJSON(t, "/admin/realms/nope/users", `{"username":"dave"}`, withBearer(e.admin)).checkError(t, http.StatusNotFound, "not_found")
	})

	t.Run("read", func(t *testing.T) {
		r := e.get(t, "/users/"+alice.ID)
		r.requireStatus(t, http.StatusOK)
		if got := usDecode(t, r); !reflect.DeepEqual(got, alice) {
			t.Errorf("GET user = %+v, want %+v", got, alice)
		}
		usNoPassword(t, "GET user", string(r.body), pw1)
		r.checkHeader(t, "ETag", strconv.Quote(strconv.FormatUint(alice.Version, 10)))
		e.get(t, "/users/"+usGhost).checkError(t, http.StatusNotFound, "not_found")
		e.get(t, "/users/not-a-uuid").checkError(t, http.StatusNotFound, "not_found")
		e.lk.get(t, "/admin/realms/nope/users/"+alice.ID, withBearer(e.admin)).checkError(t, http.StatusNotFound, "not_found")
	})

	t.Run("update", func(t *testing.T) {
		r := usPut(t, e, "/users/"+alice.ID, `{"username":"alice.l","email":"al@example.com","display_name":"Alice L."}`)
		r.requireStatus(t, http.StatusOK)
		got := usDecode(t, r)
		if got.Username != "alice.l" || got.Email != "al@example.com" || got.DisplayName != "Alice L." ||
			got.Version <= alice.Version || !got.HasPassword || !reflect.DeepEqual(got.Memberships, alice.Memberships) {
			t.Errorf("updated user = %+v (was %+v)", got, alice)
		}
		// The same profile again changes nothing.
		r = usPut(t, e, "/users/"+alice.ID, `{"username":"alice.l","email":"al@example.com","display_name":"Alice L."}`)
		r.requireStatus(t, http.StatusOK)
		if again := usDecode(t, r); again.Version != got.Version {
			t.Errorf("an unchanged PUT moved the version %d → %d", got.Version, again.Version)
		}
		// Changing only the case of one's own username is allowed.
		r = usPut(t, e, "/users/"+alice.ID, `{"username":"Alice.L","email":"al@example.com","display_name":"Alice L."}`)
		r.requireStatus(t, http.StatusOK)
		alice = usDecode(t, r)
		// The old name is free again.
		usCreate(t, e, `{"username":"alice"}`)

		lcError(t, usPut(t, e, "/users/"+alice.ID, `{"username":"BOB"}`), http.StatusConflict, "conflict")
		requireDetails(t, usPut(t, e, "/users/"+alice.ID, `{"username":"alice.l","email":"nope"}`), `"nope"`)
		usPut(t, e, "/users/"+alice.ID, `{"username":"alice.l","status":"disabled"}`).checkError(t, http.StatusBadRequest, "invalid_request")
		usPut(t, e, "/users/"+usGhost, `{"username":"ghost"}`).checkError(t, http.StatusNotFound, "not_found")
		e.send(t, http.MethodPut, "/users/"+alice.ID, "text/plain", `{"username":"x"}`).checkError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
		if cur := usDecode(t, e.get(t, "/users/"+alice.ID)); !reflect.DeepEqual(cur, alice) {
			t.Errorf("refused updates changed the user: %+v, want %+v", cur, alice)
		}
	})

	t.Run("password", func(t *testing.T) {
		bob := usCreate(t, e, `{"username":"bob2"}`)
		r := usPut(t, e, "/users/"+bob.ID+"/password", `{"password":"`+pw2+`"}`)
		r.requireStatus(t, http.StatusNoContent)
		if len(r.body) != 0 {
			t.Errorf("204 with a body:\n%s", r)
		}
		if got := usDecode(t, e.get(t, "/users/"+bob.ID)); !got.HasPassword || got.Version <= bob.Version {
			t.Errorf("after setting a password: %+v", got)
		}
		usPut(t, e, "/users/"+alice.ID+"/password", `{"password":"`+pw2+`"}`).requireStatus(t, http.StatusNoContent)
		requireDetails(t, usPut(t, e, "/users/"+alice.ID+"/password", `{"password":"short"}`), "password")
		requireDetails(t, usPut(t, e, "/users/"+alice.ID+"/password", `{"password":"ééééé"}`), "password") // 10 bytes, 5 characters
		requireDetails(t, usPut(t, e, "/users/"+alice.ID+"/password", `{"password":"`+strings.Repeat(`\u0000`, 12)+`"}`), "password")
		requireDetails(t, usPut(t, e, "/users/"+alice.ID+"/password", `{}`), "password")
		usPut(t, e, "/users/"+alice.ID+"/password", `{"password":"x","old":"y"}`).checkError(t, http.StatusBadRequest, "invalid_request")
		usPut(t, e, "/users/"+usGhost+"/password", `{"password":"`+pw2+`"}`).checkError(t, http.StatusNotFound, "not_found")
	})

	t.Run("memberships", func(t *testing.T) {
		r := usPut(t, e, "/users/"+alice.ID+"/memberships", `{"memberships":[{"node":"acme-org","role":"viewer"},{"node":"team-b","role":"admin"}]}`)
		r.requireStatus(t, http.StatusOK)
		got := usDecode(t, r)
		if want := []usMembership{{"acme-org", "viewer"}, {"team-b", "admin"}}; !reflect.DeepEqual(got.Memberships, want) {
			t.Errorf("memberships = %+v, want %+v", got.Memberships, want)
		}
		requireDetails(t, usPut(t, e, "/users/"+alice.ID+"/memberships", `{"memberships":[{"node":"nowhere","role":"viewer"},{"node":"team-a","role":"owner"}]}`),
			`"nowhere"`, `"owner"`)
		requireDetails(t, usPut(t, e, "/users/"+alice.ID+"/memberships", `{"memberships":[{"node":"team-a","role":"viewer"},{"node":"team-a","role":"admin"}]}`),
			`"team-a" is listed twice`)
		usPut(t, e, "/users/"+alice.ID+"/memberships", `{}`).checkError(t, http.StatusBadRequest, "invalid_request")
		usPut(t, e, "/users/"+alice.ID+"/memberships", `[]`).checkError(t, http.StatusBadRequest, "invalid_request")
		usPut(t, e, "/users/"+usGhost+"/memberships", `{"memberships":[]}`).checkError(t, http.StatusNotFound, "not_found")
		if cur := usDecode(t, e.get(t, "/users/"+alice.ID)); !reflect.DeepEqual(cur.Memberships, got.Memberships) {
			t.Errorf("refused membership changes changed them: %+v", cur.Memberships)
		}
		// A membership keeps its node from being deleted.
		e.send(t, http.MethodDelete, "/nodes/team-b", "", "").checkError(t, http.StatusConflict, "conflict")
		// [] removes every membership.
		r = usPut(t, e, "/users/"+alice.ID+"/memberships", `{"memberships":[]}`)
		r.requireStatus(t, http.StatusOK)
		if got := usDecode(t, r); len(got.Memberships) != 0 {
			t.Errorf("after []: memberships %+v", got.Memberships)
		}
		r = usPut(t, e, "/users/"+alice.ID+"/memberships", `{"memberships":[{"node":"team-a","role":"editor"}]}`)
		r.requireStatus(t, http.StatusOK)
		alice = usDecode(t, r)
	})

	t.Run("disable and enable", func(t *testing.T) {
		for range 2 { // disabling twice is a no-op
			r := e.postJSON(t, "/users/"+alice.ID+"/disable", "")
			r.requireStatus(t, http.StatusOK)
			if got := usDecode(t, r); got.Status != "disabled" || got.ID != alice.ID {
				t.Errorf("after disable: %+v", got)
			}
		}
		if got := usDecode(t, e.get(t, "/users/"+alice.ID)); got.Status != "disabled" {
			t.Errorf("GET disabled user: status %q", got.Status)
		}
		r := e.postJSON(t, "/users/"+alice.ID+"/enable", "")
		r.requireStatus(t, http.StatusOK)
		if got := usDecode(t, r); got.Status != "enabled" {
			t.Errorf("after enable: status %q", got.Status)
		}
		e.postJSON(t, "/users/"+usGhost+"/disable", "").checkError(t, http.StatusNotFound, "not_found")
		e.postJSON(t, "/users/"+usGhost+"/enable", "").checkError(t, http.StatusNotFound, "not_found")
	})

	t.Run("delete", func(t *testing.T) {
		d := usCreate(t, e, `{"username":"doomed","password":"doomed password 123"}`)
		r := e.send(t, http.MethodDelete, "/users/"+d.ID, "", "")
		r.requireStatus(t, http.StatusNoContent)
		e.get(t, "/users/"+d.ID).checkError(t, http.StatusNotFound, "not_found")
		e.send(t, http.MethodDelete, "/users/"+d.ID, "", "").checkError(t, http.StatusNotFound, "not_found")
		usPut(t, e, "/users/"+d.ID, `{"username":"zombie"}`).checkError(t, http.StatusNotFound, "not_found")
		usPut(t, e, "/users/"+d.ID+"/password", `{"password":"zombie password"}`).checkError(t, http.StatusNotFound, "not_found")
		e.postJSON(t, "/users/"+d.ID+"/enable", "").checkError(t, http.StatusNotFound, "not_found")
		e.send(t, http.MethodDelete, "/users/"+usGhost, "", "").checkError(t, http.StatusNotFound, "not_found")
		if p := usList(t, e, "q=doomed"); p.Total != 0 {
			t.Errorf("deleted user still listed: %v", usNames(p))
		}
		// The username is free again.
		usCreate(t, e, `{"username":"doomed"}`)
	})

	t.Run("events", func(t *testing.T) {
		page := e.allEvents(t)
		usNoPassword(t, "events", string(page.resp.body), pw1, pw2, "doomed password 123")
		usNoPassword(t, "server log", e.lk.stderr.String()+e.lk.stdout.String(), pw1, pw2, "doomed password 123")
		evs := page.Events
		agg := "user/" + alice.ID
		checkAdminMeta(t, evs, "user.created", "user.updated", "user.password_changed", "user.memberships_changed",
			"user.disabled", "user.enabled", "user.deleted")

		created := eventsOf(evs, "user.created", agg)
		if len(created) != 1 {
			t.Fatalf("user.created events for %s: %d, want 1", agg, len(created))
		}
		d := created[0].Data
		if d["user_id"] != alice.ID || d["username"] != "Alice" || d["email"] != "alice@example.com" || d["display_name"] != "Alice Liddell" {
			t.Errorf("user.created data = %v", d)
		}
		if _, has := d["password"]; has {
			t.Errorf("user.created data has a password member: %v", d)
		}
		if ms, _ := json.Marshal(d["memberships"]); string(ms) != `[{"node":"team-a","role":"editor"}]` {
			t.Errorf("user.created memberships = %s", ms)
		}

		// One at creation, one set later.
		pwc := eventsOf(evs, "user.password_changed", agg)
		if len(pwc) != 2 {
			t.Fatalf("user.password_changed events for alice: %d, want 2", len(pwc))
		}
		for _, ev := range pwc {
			if len(ev.Data) != 0 {
				t.Errorf("user.password_changed carries data %v, want none", ev.Data)
			}
		}
		if pwc[0].Seq != created[0].Seq+1 {
			t.Errorf("the creation's user.password_changed (seq %d) does not follow user.created (seq %d)", pwc[0].Seq, created[0].Seq)
		}

		upd := eventsOf(evs, "user.updated", agg)
		if len(upd) != 2 {
			t.Fatalf("user.updated events: %d, want 2 (an unchanged PUT writes nothing)", len(upd))
		}
		before, _ := upd[0].Data["before"].(map[string]any)
		after, _ := upd[0].Data["after"].(map[string]any)
		if before["username"] != "Alice" || after["username"] != "alice.l" || after["email"] != "al@example.com" {
			t.Errorf("user.updated data = %v", upd[0].Data)
		}

		mc := eventsOf(evs, "user.memberships_changed", agg)
		if len(mc) != 3 {
			t.Fatalf("user.memberships_changed events: %d, want 3", len(mc))
		}
		for i, want := range []struct{ before, after string }{
			{`[{"node":"team-a","role":"editor"}]`, `[{"node":"acme-org","role":"viewer"},{"node":"team-b","role":"admin"}]`},
			{`[{"node":"acme-org","role":"viewer"},{"node":"team-b","role":"admin"}]`, `[]`},
			{`[]`, `[{"node":"team-a","role":"editor"}]`},
		} {
			b, _ := json.Marshal(mc[i].Data["before"])
			a, _ := json.Marshal(mc[i].Data["after"])
			if string(b) != want.before || string(a) != want.after {
				t.Errorf("user.memberships_changed #%d: before %s after %s, want %s → %s", i, b, a, want.before, want.after)
			}
		}

		dis := eventsOf(evs, "user.disabled", agg)
		if len(dis) != 1 {
			t.Fatalf("user.disabled events: %d, want 1 (disabling twice writes once)", len(dis))
		}
		cut, ok := dis[0].Data["tokens_revoked_before"].(float64)
		if now := float64(time.Now().Unix()); !ok || cut < now-300 || cut > now+5 {
			t.Errorf("user.disabled data %v: want tokens_revoked_before about now (a revocation rule for the user's tokens)", dis[0].Data)
		}
		if n := len(eventsOf(evs, "user.enabled", agg)); n != 1 {
			t.Errorf("user.enabled events: %d, want 1", n)
		}
		del := eventsOf(evs, "user.deleted", "")
		if len(del) != 1 {
			t.Fatalf("user.deleted events: %d, want 1", len(del))
		}
		if cut, _ := del[0].Data["tokens_revoked_before"].(float64); cut < float64(time.Now().Unix()-300) {
			t.Errorf("user.deleted data %v: want tokens_revoked_before about now", del[0].Data)
		}
	})
}

// ---- listing ----

func TestUserList(t *testing.T) {
	t.Parallel()
	e := usStart(t, "users-list")
	if p := usList(t, e, ""); p.Total != 0 || len(p.Users) != 0 || p.NextCursor != "" {
		t.Errorf("empty realm: %+v", p)
	}
	names := []string{"zed", "Yolanda", "xavier", "Walter", "vera", "Ursula", "tom", "sam", "Rita", "quinn", "pat"}
	for i, n := range names {
		usCreate(t, e, fmt.Sprintf(`{"username":%q,"email":"%s@%s.example","memberships":[{"node":"team-a","role":"viewer"}]}`,
			n, strings.ToLower(n), map[bool]string{true: "even", false: "odd"}[i%2 == 0]))
	}
	want := []string{"pat", "quinn", "Rita", "sam", "tom", "Ursula", "vera", "Walter", "xavier", "Yolanda", "zed"}

	t.Run("all, by username", func(t *testing.T) {
		p := usList(t, e, "")
		if got := usNames(p); !slices.Equal(got, want) || p.Total != len(want) || p.NextCursor != "" {
			t.Errorf("list = %v total %d next %q, want %v", got, p.Total, p.NextCursor, want)
		}
		for _, u := range p.Users {
			if len(u.Memberships) != 1 || u.Status != "enabled" || u.HasPassword {
				t.Errorf("listed user %+v", u)
			}
		}
	})

	t.Run("pages", func(t *testing.T) {
		var got []string
		cursor := ""
		pages := 0
		for {
			q := url.Values{"limit": {"4"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			p := usList(t, e, q.Encode())
			pages++
			if len(p.Users) > 4 || p.Total != len(want) {
				t.Fatalf("page %d: %d users, total %d", pages, len(p.Users), p.Total)
			}
			got = append(got, usNames(p)...)
			if p.NextCursor == "" {
				break
			}
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			cursor = p.NextCursor
		}
		if !slices.Equal(got, want) || pages != 3 {
			t.Errorf("paged list = %v in %d pages, want %v in 3", got, pages, want)
		}
		// A page ending exactly at the end says there is no more.
		p := usList(t, e, "limit=11")
		if len(p.Users) != 11 || p.NextCursor != "" {
			t.Errorf("limit=11 of 11: %d users, next_cursor %q", len(p.Users), p.NextCursor)
		}
	})

	t.Run("a cursor survives changes", func(t *testing.T) {
		first := usList(t, e, "limit=2")
		// The user the cursor points at is deleted; the next page still
		// starts after it.
		last := first.Users[len(first.Users)-1]
		e.send(t, http.MethodDelete, "/users/"+last.ID, "", "").requireStatus(t, http.StatusNoContent)
		next := usList(t, e, "limit=2&cursor="+url.QueryEscape(first.NextCursor))
		if got := usNames(next); !slices.Equal(got, []string{"Rita", "sam"}) {
			t.Errorf("page after a deleted cursor user = %v, want [Rita sam]", got)
		}
		usCreate(t, e, `{"username":"quinn","email":"quinn@odd.example"}`)
	})

	t.Run("filter", func(t *testing.T) {
		for q, wantNames := range map[string][]string{
			"R":            {"Rita", "Ursula", "vera", "Walter", "xavier"},
			"er":           {"vera", "Walter", "xavier"},
			"even.example": {"pat", "Rita", "tom", "vera", "xavier", "zed"},
			"@ODD":         {"quinn", "sam", "Ursula", "Walter", "Yolanda"},
			"nobody":       {},
		} {
			p := usList(t, e, "q="+url.QueryEscape(q))
			if got := usNames(p); !slices.Equal(got, wantNames) || p.Total != len(wantNames) {
				t.Errorf("q=%q: %v total %d, want %v", q, got, p.Total, wantNames)
			}
		}
		p := usList(t, e, "q=r&limit=3")
		if got := usNames(p); !slices.Equal(got, []string{"Rita", "Ursula", "vera"}) || p.Total != 5 || p.NextCursor == "" {
			t.Errorf("q=r limit=3: %v total %d next %q", got, p.Total, p.NextCursor)
		}
		p = usList(t, e, "q=r&limit=3&cursor="+url.QueryEscape(p.NextCursor))
		if got := usNames(p); !slices.Equal(got, []string{"Walter", "xavier"}) || p.Total != 5 || p.NextCursor != "" {
			t.Errorf("q=r second page: %v total %d next %q", got, p.Total, p.NextCursor)
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=-1", "limit=1001", "limit=x", "cursor=!!", "cursor=a%20b"} {
			e.get(t, "/users?"+q).checkError(t, http.StatusBadRequest, "invalid_request")
		}
		e.lk.get(t, "/admin/realms/nope/users", withBearer(e.admin)).checkError(t, http.StatusNotFound, "not_found")
	})
}

// ---- UI sessions and who may call the users API ----

func TestUserUISessionsAndAuth(t *testing.T) {
	t.Parallel()
	e := usStart(t, "users-auth")
	u := usCreate(t, e, `{"username":"erin","password":"erin's long password"}`)

	t.Run("ui-sessions", func(t *testing.T) {
		for _, q := range []string{"", "?user_id=" + u.ID} {
			r := e.get(t, "/ui-sessions"+q)
			r.requireStatus(t, http.StatusOK)
			if got := strings.TrimSpace(string(r.body)); got != `{"sessions":[]}` {
				t.Errorf("GET ui-sessions%s = %s, want {\"sessions\":[]}", q, got)
			}
		}
		e.get(t, "/ui-sessions?user_id="+usGhost).checkError(t, http.StatusNotFound, "not_found")
		e.send(t, http.MethodDelete, "/ui-sessions?user_id="+usGhost, "", "").checkError(t, http.StatusNotFound, "not_found")
		for _, id := range []string{usGhost, "not-a-session"} {
			e.send(t, http.MethodDelete, "/ui-sessions/"+id, "", "").checkError(t, http.StatusNotFound, "not_found")
		}
		e.lk.get(t, "/admin/realms/nope/ui-sessions", withBearer(e.admin)).checkError(t, http.StatusNotFound, "not_found")
		if n := len(eventsOf(e.allEvents(t).Events, "session.ended", "")); n != 0 {
			t.Errorf("refused ends wrote %d session.ended events", n)
		}
	})

	// Callers: a client of acme without management, and beta's own
	// management client (which reaches beta only).
	svc := e.create(t, `{"name":"svc","scopes":["read"]}`)
	readTok := e.tokenOK(t, svc.ClientID, svc.ClientSecret, "read")
	e.lk.postJSON(t, "/admin/realms", `{"name":"beta"}`, withBearer(e.admin)).requireStatus(t, http.StatusCreated)
	betaAdmin := e.lk.createClient(t, e.admin, "beta", `{"name":"beta admin","scopes":["management"]}`)
	betaTok := e.lk.clientToken(t, "beta", betaAdmin.ClientID, betaAdmin.ClientSecret, "management").AccessToken

	type route struct{ method, path, body string }
	routes := []route{
		{http.MethodPost, "/users", `{"username":"mallory"}`},
		{http.MethodGet, "/users", ""},
		{http.MethodGet, "/users/" + u.ID, ""},
		{http.MethodPut, "/users/" + u.ID, `{"username":"mallory"}`},
		{http.MethodPut, "/users/" + u.ID + "/password", `{"password":"mallory's password"}`},
		{http.MethodPut, "/users/" + u.ID + "/memberships", `{"memberships":[{"node":"acme-org","role":"admin"}]}`},
		{http.MethodPost, "/users/" + u.ID + "/disable", ""},
		{http.MethodPost, "/users/" + u.ID + "/enable", ""},
		{http.MethodDelete, "/users/" + u.ID, ""},
		{http.MethodGet, "/ui-sessions", ""},
		{http.MethodDelete, "/ui-sessions/" + usGhost, ""},
	}
	send := func(t *testing.T, rt route, realm string, opts ...reqOpt) *response {
		t.Helper()
		opts = append(opts, withContentType("application/json"))
		return e.lk.do(t, rt.method, "/admin/realms/"+realm+rt.path, strings.NewReader(rt.body), opts...)
	}

	t.Run("refused callers", func(t *testing.T) {
		for _, rt := range routes {
			name := rt.method + " " + rt.path
			r := send(t, rt, "acme")
			r.checkError(t, http.StatusUnauthorized, "invalid_token")
			if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") {
				t.Errorf("%s without a token: WWW-Authenticate %q", name, ch)
			}
			send(t, rt, "acme", withBearer("not-a-token")).checkError(t, http.StatusUnauthorized, "invalid_token")
			send(t, rt, "acme", withBasic("latchkey-admin", "wrong")).checkError(t, http.StatusUnauthorized, "invalid_token")
			r = send(t, rt, "acme", withBearer(readTok))
			r.checkError(t, http.StatusForbidden, "insufficient_scope")
			if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_scope"`) {
				t.Errorf("%s with a read token: WWW-Authenticate %q", name, ch)
			}
			send(t, rt, "acme", withBearer(betaTok)).checkError(t, http.StatusForbidden, "insufficient_scope")
		}
		// Nothing changed.
		got := usDecode(t, e.get(t, "/users/"+u.ID))
		if got.Version != u.Version || got.Username != "erin" || got.Status != "enabled" || len(got.Memberships) != 0 {
			t.Errorf("refused callers changed the user: %+v (was %+v)", got, u)
		}
		if p := usList(t, e, ""); p.Total != 1 {
			t.Errorf("refused callers created users: %v", usNames(p))
		}
	})

	t.Run("a realm's own management client", func(t *testing.T) {
		bu := e.lk.postJSON(t, "/admin/realms/beta/users", `{"username":"erin"}`, withBearer(betaTok))
		bu.requireStatus(t, http.StatusCreated)
		beta := usDecode(t, bu)
		if beta.ID == u.ID {
			t.Error("the same id in two realms")
		}
		r := e.lk.get(t, "/admin/realms/beta/users", withBearer(betaTok))
		r.requireStatus(t, http.StatusOK)
		var p usPage
		r.decode(t, &p)
		if got := usNames(p); !slices.Equal(got, []string{"erin"}) {
			t.Errorf("beta users = %v", got)
		}
		// Users are per realm: acme's user is unknown in beta.
		e.lk.get(t, "/admin/realms/beta/users/"+u.ID, withBearer(betaTok)).checkError(t, http.StatusNotFound, "not_found")
		e.lk.get(t, "/admin/realms/beta/ui-sessions", withBearer(betaTok)).requireStatus(t, http.StatusOK)
		evs := e.lk.events(t, e.admin, "beta", "after_seq=0&limit=1000").Events
		created := eventsOf(evs, "user.created", "user/"+beta.ID)
		if len(created) != 1 || created[0].Actor != "client:"+betaAdmin.ClientID || created[0].ClientID != betaAdmin.ClientID {
			t.Errorf("beta user.created events %+v, want one by client:%s", created, betaAdmin.ClientID)
		}
	})

	t.Run("a realm name cannot add parameters to the challenge", func(t *testing.T) {
		r := e.lk.get(t, "/admin/realms/x%22,%20error=%22invalid_token/users", withBearer(betaTok))
		r.checkError(t, http.StatusForbidden, "insufficient_scope")
		// Four quoted parameters (realm, error, error_description, scope):
		// eight quotes, none from the path.
		if ch := r.header.Get("WWW-Authenticate"); strings.Count(ch, `"`) != 8 || !strings.HasSuffix(ch, `, scope="management"`) {
			t.Errorf("WWW-Authenticate %q: the realm name from the path made its own parameters", ch)
		}
	})

	t.Run("management taken from a client ends its tokens' admin rights", func(t *testing.T) {
		ops := e.lk.createClient(t, e.admin, "beta", `{"name":"ops","scopes":["management","read"]}`)
		opsTok := e.lk.clientToken(t, "beta", ops.ClientID, ops.ClientSecret, "management read").AccessToken
		e.lk.get(t, "/admin/realms/beta/users", withBearer(opsTok)).requireStatus(t, http.StatusOK)
		e.lk.do(t, http.MethodPatch, "/admin/realms/beta/clients/"+ops.ClientID, strings.NewReader(`{"scopes":["read"]}`),
			withBearer(e.admin), withContentType("application/merge-patch+json")).requireStatus(t, http.StatusOK)
		e.lk.get(t, "/admin/realms/beta/users", withBearer(opsTok)).checkError(t, http.StatusForbidden, "insufficient_scope")
		e.lk.postJSON(t, "/admin/realms/beta/users", `{"username":"after-demotion"}`, withBearer(opsTok)).checkError(t, http.StatusForbidden, "insufficient_scope")
	})
}

// TestConcurrentUsernameClaims: twenty simultaneous creations of one
// username leave exactly one user with it.
func TestConcurrentUsernameClaims(t *testing.T) {
	t.Parallel()
	opts := serverOpts{name: "username-race", data: t.TempDir(), bootstrapSecret: "bootstrap-secret-for-username-race"}
	lk := startLatchkey(t, opts)
	admin := lk.adminToken(t, opts.bootstrapSecret).AccessToken
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	statuses := make([]int, 20)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := []string{"racer", "Racer", "RACER"}[i%3]
			statuses[i] = lk.postJSON(t, "/admin/realms/acme/users", `{"username":"`+name+`"}`, withBearer(admin)).status
		}()
	}
	wg.Wait()
	if created := countStatus(statuses, http.StatusCreated); created != 1 || countStatus(statuses, http.StatusConflict) != 19 {
		t.Fatalf("statuses %v: want one 201 and nineteen 409", statuses)
	}
	r := lk.get(t, "/admin/realms/acme/users?q=racer", withBearer(admin))
	r.requireStatus(t, http.StatusOK)
	var list struct {
		Users []struct{ Username string } `json:"users"`
	}
	r.decode(t, &list)
	if len(list.Users) != 1 {
		t.Fatalf("users named racer: %s", r.body)
	}
}
