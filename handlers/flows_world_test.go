package handlers_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/handlers"
	"github.com/latchkeyhq/latchkey/realms"
	"github.com/latchkeyhq/latchkey/realms/dpop"
)

// The device, pushed-request and DPoP tests run the real service over
// real HTTP (embedded JetStream, the registry, echo behind an HTTP
// listener whose address is the public URL, so that proofs name the URLs
// a client really calls), on a clock the test moves.

// testClock is the service's clock; tests move it forward.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world is realm acme served at base, with user bob.
type world struct {
	t     *testing.T
	reg   *realms.Registry
	realm *realms.Realm
	clock *testClock
	base  string // the public URL: http://127.0.0.1:port
	http  *http.Client
}

const bobPassword = "correct horse battery staple"

func newWorld(t *testing.T) *world {
	t.Helper()
	srv := estest.Start(t, t.TempDir())
	ctx := context.Background()
	keys, err := realms.OpenKeyStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := realms.OpenPasswordStore(ctx, srv.Store, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	base := "http://" + hs.Listener.Addr().String()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	reg := realms.NewRegistry(srv.Store, keys, passwords, base, log)
	t.Cleanup(reg.Close)
	clock := &testClock{t: time.Now().Truncate(time.Second)}
	reg.UseClock(clock.now)
	w := &world{t: t, reg: reg, clock: clock, base: base, http: &http.Client{Timeout: 15 * time.Second}}
	rl, err := reg.Create(ctx, "acme", w.meta())
	if err != nil {
		t.Fatal(err)
	}
	w.realm = rl
	if _, err := rl.Users().Create(ctx, realms.NewUser{UserProfile: domain.UserProfile{Username: "bob"}, Password: bobPassword}, w.meta()); err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = handlers.New(handlers.Config{Registry: reg, Log: log, Now: clock.now})
	hs.Start()
	t.Cleanup(hs.Close)
	return w
}

func (w *world) meta() eventstore.Meta {
	return eventstore.Meta{Actor: eventstore.ActorSystem, Time: w.clock.now()}
}

// client creates a client of acme; its secret is "" for a public one.
func (w *world) client(s domain.ClientSettings) (id, secret string) {
	w.t.Helper()
	created, err := w.realm.Clients().Create(context.Background(), "", s, false, w.meta())
	if err != nil {
		w.t.Fatalf("creating client %s: %v", s.Name, err)
	}
	return created.Client.ID, created.Secret
}

// settings changes acme's settings.
func (w *world) settings(change func(*domain.RealmSettings)) {
	w.t.Helper()
	s := w.realm.Settings()
	change(&s)
	if err := w.realm.UpdateSettings(context.Background(), s, w.meta()); err != nil {
		w.t.Fatal(err)
	}
}

// endpoint is the URL of one of acme's OAuth endpoints.
func (w *world) endpoint(path string) string { return w.base + "/realms/acme" + path }

// answer is a response, read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %s", a.status, a.body)
	}
	return m
}

// oauthError is the error code of an OAuth error answer.
func (a answer) oauthError(t *testing.T) string {
	t.Helper()
	code, _ := a.json(t)["error"].(string)
	return code
}

func (a answer) str(t *testing.T, key string) string {
	t.Helper()
	v, _ := a.json(t)[key].(string)
	return v
}

func (w *world) do(c *http.Client, req *http.Request) answer {
	w.t.Helper()
	res, err := c.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: body}
}

// post sends a form; set adds headers (auth, DPoP).
func (w *world) post(url string, form url.Values, set func(*http.Request)) answer {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if set != nil {
		set(req)
	}
	return w.do(w.http, req)
}

func (w *world) get(url string, set func(*http.Request)) answer {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if set != nil {
		set(req)
	}
	return w.do(w.http, req)
}

func basicAuth(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(id, secret) }
}

// prover is a client's DPoP key, making proofs on the world's clock.
type prover struct {
	w *world
	*dpop.Prover
}

func (w *world) prover(key crypto.Signer) *prover {
	w.t.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			w.t.Fatal(err)
		}
		key = k
	}
	p, err := dpop.NewProver(key)
	if err != nil {
		w.t.Fatal(err)
	}
	return &prover{w: w, Prover: p}
}

// proof is a fresh proof for method and url; change alters its claims.
func (p *prover) proof(method, url string, change func(*dpop.ProofClaims)) string {
	p.w.t.Helper()
	c := dpop.ProofClaims{JTI: uuid.NewString(), Method: method, URL: url, IAT: p.w.clock.now().Unix()}
	if change != nil {
		change(&c)
	}
	proof, err := p.Proof(c)
	if err != nil {
		p.w.t.Fatal(err)
	}
	return proof
}

// header sets a proof as the request's DPoP header.
func header(proof string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("DPoP", proof) }
}

func both(fs ...func(*http.Request)) func(*http.Request) {
	return func(r *http.Request) {
		for _, f := range fs {
			f(r)
		}
	}
}

// browser is a person's browser: its own cookies, redirects not followed.
type browser struct {
	w *world
	c *http.Client
}

func (w *world) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{w: w, c: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(u string) answer {
	b.w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.w.do(b.c, req)
}

func (b *browser) post(u string, form url.Values) answer {
	b.w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.w.do(b.c, req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// hidden are a page's hidden form fields.
func hidden(t *testing.T, a answer) url.Values {
	t.Helper()
	out := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(a.body), -1) {
		out.Set(m[1], html.UnescapeString(m[2]))
	}
	if len(out) == 0 {
		t.Fatalf("page %d has no form: %s", a.status, a.body)
	}
	return out
}

// contains fails unless a page says want.
func contains(t *testing.T, a answer, want string) {
	t.Helper()
	if !strings.Contains(html.UnescapeString(string(a.body)), want) {
		t.Fatalf("page %d does not say %q: %s", a.status, want, a.body)
	}
}
