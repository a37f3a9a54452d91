package main

// End-to-end: the abuse limits of issue 11 item 3, each attack as an
// attacker runs it against the binary: a password spray from one address,
// locking a victim out, replicas that each allowed their own guesses,
// counters lost on restart, guessing client secrets, and a spray starving
// introspection of CPU.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// limitsWorld is a realm acme with user alice, a service client, and a
// public app whose authorization requests lead to the sign-in form.
type limitsWorld struct {
	admin    string
	aliceID  string
	app      string // the public app's client id
	svc      clientCreated
	verifier string // PKCE verifier of authURL
	authURL  string // on any replica: a path
}

const alicePassword = "correct horse battery"

func setUpLimits(t *testing.T, lk *latchkey, bootstrapSecret string) limitsWorld {
	t.Helper()
	w := limitsWorld{admin: lk.adminToken(t, bootstrapSecret).AccessToken}
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(w.admin)).requireStatus(t, http.StatusCreated)
	r := lk.postJSON(t, "/admin/realms/acme/users", `{"username":"alice","password":"`+alicePassword+`"}`, withBearer(w.admin))
	r.requireStatus(t, http.StatusCreated)
	var u struct{ ID string }
	r.decode(t, &u)
	w.aliceID = u.ID
	app := lk.postJSON(t, "/admin/realms/acme/clients", `{"name":"App","type":"public","redirect_uris":["http://127.0.0.1/callback"],"scopes":["read"]}`, withBearer(w.admin))
	app.requireStatus(t, http.StatusCreated)
	var created clientCreated
	app.decode(t, &created)
	w.app = created.ClientID
	w.svc = lk.createClient(t, w.admin, "acme", `{"name":"svc"}`)
	w.verifier = oauth2.GenerateVerifier()
	w.authURL = "/realms/acme/protocol/openid-connect/auth?" + url.Values{
		"client_id": {created.ClientID}, "redirect_uri": {"http://127.0.0.1/callback"}, "response_type": {"code"}, "state": {"s"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(w.verifier)}, "code_challenge_method": {"S256"},
		"prompt": {"login"}, // the form, even in a browser signed in already
	}.Encode()
	return w
}

// signInAnswer is the answer to one sign-in form.
type signInAnswer struct {
	status     int
	retryAfter string
	body       string
}

func (a signInAnswer) signedIn() bool {
	return a.status == http.StatusOK && strings.Contains(a.body, "wants access") || a.status == http.StatusSeeOther
}
func (a signInAnswer) locked() bool {
	return a.status == http.StatusOK && strings.Contains(a.body, "locked until")
}
func (a signInAnswer) refused() bool {
	return a.status == http.StatusOK && strings.Contains(a.body, "Invalid username or password.")
}

// trySignIn opens the sign-in form on lk in browser b and sends it.
func trySignIn(t *testing.T, b *browser, lk *latchkey, w limitsWorld, user, password string) signInAnswer {
	t.Helper()
	login := b.get(lk.base + w.authURL)
	if login.status != http.StatusOK || !strings.Contains(login.body, "Sign in") {
		t.Fatalf("%s: want the sign-in form, got %d:\n%s", lk.name, login.status, login.body)
	}
	action, fields := formOf(t, lk.base, login.body)
	return postSignIn(t, b, action, fields, user, password)
}

func postSignIn(t *testing.T, b *browser, action string, fields url.Values, user, password string) signInAnswer {
	t.Helper()
	form := url.Values{}
	for k, v := range fields {
		form[k] = v
	}
	form.Set("username", user)
	form.Set("password", password)
	req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return signInAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body)}
}

// Two replicas (two serve processes on one NATS) share every counter, and
// the counters outlive a restart: a username locked by failures spread
// over both replicas is locked on both and after the restart; the victim's
// own browser (its device cookie) still signs in; an administrator's
// unlock ends the lock; a spray over many usernames from one address ends
// in 429 with Retry-After, on every replica. Failed client authentications
// spread over both replicas end in 429 as well, while the right secret
// works.
func TestAbuseLimitsAcrossReplicasAndRestarts(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	natsAddr := freeAddr(t)
	limits := []string{"--limit-signin-user", "3/15m", "--limit-signin-source", "10/15m", "--limit-client-auth", "3/1m"}
	const secret = "bootstrap-secret-for-limits-e2e-tests"
	a := startLatchkey(t, serverOpts{name: "replica a", data: data, bootstrapSecret: secret, args: append([]string{"--nats-listen", natsAddr}, limits...)})
	w := setUpLimits(t, a, secret)
	password, err := os.ReadFile(filepath.Join(data, "nats-password"))
	if err != nil {
		t.Fatal(err)
	}
	b := startLatchkey(t, serverOpts{name: "replica b", data: data,
		args: append([]string{"--nats-url", "nats://" + natsAddr, "--nats-password", strings.TrimSpace(string(password))}, limits...)})

	victim, attacker := newBrowser(t), newBrowser(t)
	if got := trySignIn(t, victim, a, w, "alice", alicePassword); !got.signedIn() {
		t.Fatalf("alice signs in: %d\n%s", got.status, got.body)
	}
	// Three wrong passwords for alice, over both replicas: locked.
	for i, lk := range []*latchkey{a, b, a} {
		got := trySignIn(t, attacker, lk, w, "alice", "guess")
		if (i < 2 && !got.refused()) || (i == 2 && !got.locked()) {
			t.Fatalf("guess %d on %s: %d\n%s", i+1, lk.name, got.status, got.body)
		}
	}
	for _, lk := range []*latchkey{a, b} {
		if got := trySignIn(t, attacker, lk, w, "alice", alicePassword); !got.locked() {
			t.Fatalf("the right password on %s while alice is locked: %d\n%s", lk.name, got.status, got.body)
		}
	}
	// Alice's own browser is not locked out.
	if got := trySignIn(t, victim, b, w, "alice", alicePassword); !got.signedIn() {
		t.Fatalf("alice in her own browser while locked, on replica b: %d\n%s", got.status, got.body)
	}
	if n := a.countEvents(t, w.admin, "acme", "user.locked"); n != 1 {
		t.Errorf("%d user.locked events, want 1", n)
	}

	// Guessing a client secret over both replicas: the third failure is
	// 429 with Retry-After; the right secret still gets a token.
	for i, lk := range []*latchkey{a, b} {
		lk.postForm(t, tokenPath("acme"), "grant_type=client_credentials", withBasic(w.svc.ClientID, fmt.Sprint("guess-", i))).
			checkError(t, http.StatusUnauthorized, "invalid_client")
	}
	limited := a.postForm(t, introspectPath("acme"), "token=x", withBasic(w.svc.ClientID, "guess-2"))
	limited.checkError(t, http.StatusTooManyRequests, "invalid_client")
	if s, err := strconv.Atoi(limited.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After of a limited client authentication: %q", limited.header.Get("Retry-After"))
	}
	b.clientToken(t, "acme", w.svc.ClientID, w.svc.ClientSecret, "")

	// Both replicas restart; one comes back: the lock is still there.
	b.stop(t)
	a.stop(t)
	a = startLatchkey(t, serverOpts{name: "replica a, again", addr: a.addr, data: data, args: append([]string{"--nats-listen", natsAddr}, limits...)})
	if got := trySignIn(t, attacker, a, w, "alice", alicePassword); !got.locked() {
		t.Fatalf("the right password after a restart while locked: %d\n%s", got.status, got.body)
	}
	// An administrator unlocks alice: she signs in anywhere, and the
	// audit log says who unlocked her.
	a.do(t, http.MethodPost, "/admin/realms/acme/users/"+w.aliceID+"/unlock", nil, withBearer(w.admin)).requireStatus(t, http.StatusOK)
	if got := trySignIn(t, attacker, a, w, "alice", alicePassword); !got.signedIn() {
		t.Fatalf("after the unlock: %d\n%s", got.status, got.body)
	}
	if n := a.countEvents(t, w.admin, "acme", "user.unlocked"); n != 1 {
		t.Errorf("%d user.unlocked events, want 1", n)
	}

	// A spray: one password over many usernames from one address. Three
	// of its ten failures are spent; seven more and the address gets 429
	// with Retry-After, the form no longer shown — also in alice's
	// browser, which shares the address.
	login := attacker.get(a.base + w.authURL)
	action, fields := formOf(t, a.base, login.body)
	for i := range 7 {
		if got := postSignIn(t, attacker, action, fields, fmt.Sprint("user", i), "Summer2024!"); !got.refused() {
			t.Fatalf("spray %d: %d\n%s", i, got.status, got.body)
		}
	}
	got := postSignIn(t, attacker, action, fields, "user7", "Summer2024!")
	if s, err := strconv.Atoi(got.retryAfter); got.status != http.StatusTooManyRequests || err != nil || s < 800 || !strings.Contains(got.body, "Too many failed sign-ins") {
		t.Fatalf("the spray's 11th guess: %d Retry-After %q\n%s", got.status, got.retryAfter, got.body)
	}
	if got := trySignIn(t, victim, a, w, "alice", alicePassword); got.status != http.StatusTooManyRequests {
		t.Fatalf("from the sprayed address, in alice's browser: %d, want 429", got.status)
	}
}

// With the password checks bounded, a spray of sign-ins that all reach
// argon2id leaves introspection fast: the checks wait for their slot
// without CPU, or are turned away with 503 and Retry-After (which
// TestPasswordChecksAreBounded in realms shows deterministically).
func TestIntrospectionStaysFastUnderAPasswordSpray(t *testing.T) {
	t.Parallel()
	const secret = "bootstrap-secret-for-spray-e2e-tests"
	lk := startLatchkey(t, serverOpts{name: "spray", data: t.TempDir(), bootstrapSecret: secret, args: []string{
		"--max-concurrent-hashes", "1",
		"--limit-signin-user", "off", "--limit-signin-source", "off", "--limit-signin-realm", "off",
	}})
	w := setUpLimits(t, lk, secret)
	rs := lk.createClient(t, w.admin, "acme", `{"name":"resource server"}`)
	token := lk.clientToken(t, "acme", w.svc.ClientID, w.svc.ClientSecret, "").AccessToken
	introspect := url.Values{"token": {token}}.Encode()
	// p50 of introspection for a while: before the spray, then during it.
	p50 := func(within time.Duration) time.Duration {
		var latencies []time.Duration
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			start := time.Now()
			r := lk.postForm(t, introspectPath("acme"), introspect, withBasic(rs.ClientID, rs.ClientSecret))
			latencies = append(latencies, time.Since(start))
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"active":true`) {
				t.Fatalf("introspection:\n%s", r)
			}
		}
		slices.Sort(latencies)
		return latencies[len(latencies)/2]
	}
	quiet := p50(500 * time.Millisecond)

	sprayer := newBrowser(t)
	login := sprayer.get(lk.base + w.authURL)
	action, fields := formOf(t, lk.base, login.body)
	var stop atomic.Bool
	var busy, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				got := postSignIn(t, sprayer, action, fields, fmt.Sprint("user", g, "-", i), "Summer2024!")
				switch {
				case got.status == http.StatusServiceUnavailable && got.retryAfter == "1":
					busy.Add(1)
				case got.refused():
					refused.Add(1)
				default:
					t.Errorf("a sprayed sign-in: %d\n%s", got.status, got.body)
					return
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // the spray is under way
	sprayed := p50(1500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("introspection p50: %v, then %v during the spray; sign-ins answered %d, busy %d", quiet, sprayed, refused.Load(), busy.Load())
	if refused.Load() == 0 {
		t.Errorf("the spray: no sign-in answered")
	}
	// Loose, on a machine other tests share: a few milliseconds more than
	// before the spray (0.6 ms unloaded; 25 ms, and 80 here, with the
	// argon2id work unbounded).
	if sprayed > max(20*time.Millisecond, 5*quiet) {
		t.Errorf("introspection p50 %v during a password spray (%v before), want a few milliseconds", sprayed, quiet)
	}
}
