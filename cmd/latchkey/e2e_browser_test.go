package main

// End-to-end in a real browser: headless Chromium signs in and consents on
// Latchkey's pages, and lands on the application's callback with a code.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// chromium finds Debian's Chromium. CI installs it (.ci/run), so there a
// missing browser fails the test instead of skipping it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium on this machine; .ci/run installs Debian's chromium package")
	}
	t.Skip("no Chromium on this machine (apt-get install chromium)")
	return ""
}

func TestBrowserSignInAndConsent(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	w := setUpOIDC(t)

	var mu sync.Mutex
	var callback url.Values
	app := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(rw, r) // the browser also asks for /favicon.ico
			return
		}
		mu.Lock()
		callback = r.URL.Query()
		mu.Unlock()
		rw.Header().Set("Content-Type", "text/html")
		_, _ = rw.Write([]byte("<html><body><h1 id=done>signed in</h1></body></html>"))
	}))
	defer app.Close()

	cfg := &oauth2.Config{ClientID: w.app, Endpoint: w.provider.Endpoint(), RedirectURL: app.URL + "/callback", Scopes: []string{"openid", "profile"}}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier))

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 30*time.Second)
	defer cancelTimeout()

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("browser, %s: %v", what, err)
		}
	}
	step("sign in",
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value=approve]`)),
	)
	consentText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("LATCHKEY_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "consent.png"), shot, 0o644)
	}
	step("consent",
		chromedp.Click(chromedp.CSS(`button[value=approve]`)),
		chromedp.WaitVisible(chromedp.CSS(`#done`)),
	)
	for _, want := range []string{"CLI wants access", "openid", "profile", "Full access", "team-a", "team-b"} {
		if !strings.Contains(consentText, want) {
			t.Errorf("consent page lacks %q:\n%s", want, consentText)
		}
	}
	mu.Lock()
	q := callback
	mu.Unlock()
	if q.Get("state") != "browser-state" || q.Get("iss") != w.issuer || q.Get("code") == "" {
		t.Fatalf("callback query %v", q)
	}
	if _, err := cfg.Exchange(w.ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("exchange of the browser's code: %v", err)
	}
}
