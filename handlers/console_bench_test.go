package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// BenchmarkConsoleClientsPage is the OAuth clients page of a realm with
// 10,000 clients, as a signed-in realm administrator asks for it: session,
// token check, the page of 50 with the counts over all 10,000, and the
// HTML. The budget is 50 ms of server time. Run with
//
//	go test -run '^$' -bench ConsoleClientsPage -benchtime 200x ./handlers
func BenchmarkConsoleClientsPage(b *testing.B) {
	const clients = 10_000
	w := signInWorldOn(b, newFixtureWith(b, true))
	ctx := context.Background()
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	alice, err := w.realm.Users().ByUsername("alice")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.realm.Users().SetRealmRoles(ctx, alice.ID, []string{domain.RoleRealmAdmin}, meta); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < clients; i += 8 {
				s := domain.ClientSettings{Name: fmt.Sprintf("client %05d", i), Scopes: []string{"read"}}
				if _, err := w.realm.Clients().Create(ctx, "", s, false, meta); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	br := newConsoleBrowser(b, w.e)
	signInToConsole(b, w, br)

	// Paging goes past 10,000: every client is reached by following the
	// next-page links.
	next := regexp.MustCompile(`href="\?([^"]*cursor=[^"]*)" rel="next"`)
	seen, pages, path := 0, 0, "/console/acme/realms/acme/clients?limit=500"
	for {
		rec := br.do(http.MethodGet, path, nil)
		if rec.Code != http.StatusOK {
			b.Fatalf("page %d: %d", pages, rec.Code)
		}
		seen += len(benchRows.FindAllString(rec.Body.String(), -1))
		pages++
		m := next.FindStringSubmatch(rec.Body.String())
		if m == nil {
			break
		}
		path = "/console/acme/realms/acme/clients?" + htmlUnescape(m[1])
	}
	if seen != clients+2 { // and the fixture's two clients
		b.Fatalf("paging showed %d clients in %d pages, want %d", seen, pages, clients+2)
	}

	for _, bc := range []struct{ name, path string }{
		{"first page", "/console/acme/realms/acme/clients"},
		{"name search", "/console/acme/realms/acme/clients?q=client+09999"},
		{"last page", "/console/acme/realms/acme/clients?" + lastCursor(w)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rec := br.do(http.MethodGet, bc.path, nil)
			b.Logf("%s: %d rows", bc.name, len(benchRows.FindAllString(rec.Body.String(), -1)))
			for b.Loop() {
				if rec := br.do(http.MethodGet, bc.path, nil); rec.Code != http.StatusOK {
					b.Fatalf("%d", rec.Code)
				}
			}
		})
	}
}

// lastCursor is the query of the clients page that shows the last 50.
func lastCursor(w *signInWorld) string {
	first, _ := w.realm.Clients().Page(projections.ClientFilter{}, "", 1)
	before, _ := w.realm.Clients().Page(projections.ClientFilter{}, "", first.Total-50)
	return "cursor=" + url.QueryEscape(before.Clients[len(before.Clients)-1].ID)
}

func htmlUnescape(s string) string { return regexp.MustCompile(`&amp;`).ReplaceAllString(s, "&") }

var benchRows = regexp.MustCompile(`<tr data-client=`)
