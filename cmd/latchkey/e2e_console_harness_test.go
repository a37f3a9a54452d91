package main

// Helpers of the console's browser tests: one headless Chromium, a
// separate browser context (cookies, storage) per person, and the steps a
// person takes on the console's pages.

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chrome is one headless Chromium shared by a test's people.
type chrome struct {
	t    *testing.T
	root context.Context
}

// newChrome starts headless Chromium with the flags of
// TestBrowserSignInAndConsent, at a window size fit for screenshots.
func newChrome(t *testing.T) *chrome {
	t.Helper()
	exe := chromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	t.Cleanup(cancelAlloc)
	root, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(root, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return &chrome{t: t, root: root}
}

// person is one browser context: one person's cookies.
type person struct {
	t    *testing.T
	name string
	ctx  context.Context
	lk   *latchkey

	seen *dialogs // JavaScript dialogs opened (none ever should)
}

type dialogs struct {
	mu   sync.Mutex
	list []string
}

// in is the person failing subtest t.
func (p *person) in(t *testing.T) *person {
	q := *p
	q.t = t
	return &q
}

// person opens a new browser context for name.
func (ch *chrome) person(lk *latchkey, name string) *person {
	p := &person{t: ch.t, name: name, lk: lk, seen: &dialogs{}}
	ctx, cancel := chromedp.NewContext(ch.root, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			p.seen.mu.Lock()
			p.seen.list = append(p.seen.list, d.Message)
			p.seen.mu.Unlock()
		}
	}))
	ch.t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		ch.t.Fatalf("browser context of %s: %v", name, err)
	}
	// The copy button writes to the clipboard, the test reads it back.
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: perm}, Setting: cdpbrowser.PermissionSettingGranted,
			Origin: lk.base, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		})
		if err != nil {
			ch.t.Fatalf("clipboard permission for %s: %v", name, err)
		}
	}
	p.ctx = ctx
	return p
}

// timeout runs fn with a deadline on the person's tab.
func (p *person) within(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, d)
}

// do runs steps, failing the test with what was being done.
func (p *person) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := p.within(20 * time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(p.ctx, chromedp.Location())
		body, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("body")))
		p.t.Fatalf("%s, %s: %v\nat %s:\n%s", p.name, what, err, loc, body)
	}
}

// open navigates to a path of the server and returns the answer's status.
func (p *person) open(path string) int {
	p.t.Helper()
	ctx, cancel := p.within(20 * time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(p.lk.base+path))
	if err != nil {
		p.t.Fatalf("%s opens %s: %v", p.name, path, err)
	}
	return int(resp.Status)
}

// submit clicks a button that sends a form and returns the status of the
// page it leads to.
func (p *person) submit(sel string) int {
	p.t.Helper()
	ctx, cancel := p.within(20 * time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		body, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("body")))
		p.t.Fatalf("%s submits %s: %v\n%s", p.name, sel, err, body)
	}
	return int(resp.Status)
}

// text is the visible text of the first element sel matches.
func (p *person) text(sel string) string {
	p.t.Helper()
	ctx, cancel := p.within(10 * time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("%s reads %s: %v", p.name, sel, err)
	}
	return s
}

// exists reports whether sel matches an element now.
func (p *person) exists(sel string) bool {
	p.t.Helper()
	ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool]("document.querySelector("+jsString(sel)+") !== null"))
	if err != nil {
		p.t.Fatalf("%s looks for %s: %v", p.name, sel, err)
	}
	return ok
}

// fill replaces an input's value with v, with the input and change events
// typing sends.
func (p *person) fill(sel, v string) {
	p.t.Helper()
	p.do("fill "+sel, chromedp.SetValue(chromedp.CSS(sel), v))
}

// signIn signs in on the realm's sign-in page the browser is on.
func (p *person) signIn(username, password string) {
	p.t.Helper()
	p.do("sign in as "+username,
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), username),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
	)
}

// signInToConsole opens a realm's console and signs in there, landing on
// the page the console starts with.
func (p *person) signInToConsole(realm, username, password string) {
	p.t.Helper()
	p.open("/console/" + realm + "/")
	p.signIn(username, password)
	p.do("finish the console's sign-in", chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#signout`)))
}

// screenshot saves the whole page as docs/<name>.png when
// LATCHKEY_SCREENSHOTS names a directory (README's pictures:
// LATCHKEY_SCREENSHOTS=$PWD/docs); a long page, its first screen.
func (p *person) screenshot(name string) {
	p.t.Helper()
	dir := os.Getenv("LATCHKEY_SCREENSHOTS")
	if dir == "" {
		return
	}
	take := chromedp.FullScreenshot(100)
	if h, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.documentElement.scrollHeight`)); err == nil && h > 2400 {
		take = chromedp.CaptureScreenshot()
	}
	shot, err := chromedp.Run(p.ctx, take)
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), shot, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// httpClient is a Go client holding the browser's cookies for the server:
// for the answers a browser would download rather than show.
func (p *person) httpClient() *http.Client {
	p.t.Helper()
	res, err := chromedp.Call(p.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.lk.base + "/console/master/"}})
	if err != nil {
		p.t.Fatal(err)
	}
	cookies := res.Cookies
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(p.lk.base)
	var hc []*http.Cookie
	for _, c := range cookies {
		hc = append(hc, &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path})
	}
	jar.SetCookies(u, hc)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// noDialogs fails the test if a page opened a JavaScript dialog: a name
// that ran as script.
func (p *person) noDialogs() {
	p.t.Helper()
	p.seen.mu.Lock()
	defer p.seen.mu.Unlock()
	if len(p.seen.list) > 0 {
		p.t.Errorf("%s's pages opened JavaScript dialogs %q", p.name, p.seen.list)
	}
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// consoleSignIn signs in to a realm's console with a cookie-keeping Go
// client (no JavaScript is needed) and checks that the console opens.
func consoleSignIn(t *testing.T, lk *latchkey, realm, username, password string) *browser {
	t.Helper()
	b := newBrowser(t)
	r := b.get(lk.base + "/console/" + realm + "/signin")
	if r.status != http.StatusSeeOther {
		t.Fatalf("console sign-in: %d", r.status)
	}
	login := b.get(lk.base + r.location)
	if login.status != http.StatusOK {
		t.Fatalf("the realm's sign-in page: %d", login.status)
	}
	action, fields := formOf(t, lk.base, login.body)
	fields.Set("username", username)
	fields.Set("password", password)
	back := b.post(action, fields)
	if back.status != http.StatusSeeOther || !strings.Contains(back.location, "/console/"+realm+"/callback?") {
		t.Fatalf("signing in as %s: %d %q\n%s", username, back.status, back.location, back.body)
	}
	if done := b.get(back.location); done.status != http.StatusOK || !strings.Contains(done.body, "You are signed in") {
		t.Fatalf("the console's callback: %d\n%s", done.status, done.body)
	}
	if home := b.get(lk.base + "/console/" + realm + "/me"); home.status != http.StatusOK {
		t.Fatalf("the console after signing in: %d", home.status)
	}
	return b
}
