package main

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/realms"
)

// ---- 2: the replicas agree ----

// testReplicasAgree: a change acknowledged by one replica binds the other
// at once for client authentication and issuance, and within
// realms.StaleBound for introspection, under token load on both.
func testReplicasAgree(t *testing.T, c *localCluster, admin string) {
	r1, r2 := c.replicas[0], c.replicas[1]
	tries := clusterTries(t)
	var loadClients [][2]string
	for i := range 4 {
		id, secret := newClient(t, r1, admin, "acme", fmt.Sprintf(`{"name":"load-%d","scopes":["read"]}`, i))
		loadClients = append(loadClients, [2]string{id, secret})
	}
	introspector := loadClients[0]
	l := startLoad(c, "acme", 8, loadClients)
	defer func() {
		res := l.finish()
		ok := 0
		for _, r := range res {
			if r.status == http.StatusOK {
				ok++
			}
		}
		t.Logf("background load: %d token requests, %d issued", len(res), ok)
	}()

	t.Run("ClientCreatedOnOneIsKnownOnTheOther", func(t *testing.T) {
		failures := 0
		for try := range tries {
			id, secret := newClient(t, r1, admin, "acme", fmt.Sprintf(`{"name":"fresh-%d","scopes":["read"]}`, try))
			if rep := r2.token("acme", id, secret); rep.err != nil || rep.status != http.StatusOK {
				failures++
				t.Errorf("try %d: client created on %s, token on %s: %s", try, r1.name, r2.name, rep)
			}
		}
		t.Logf("%d of %d clients created on one replica got a token on the other at once", tries-failures, tries)
	})

	t.Run("RotationBindsTheOther", func(t *testing.T) {
		id, secret := newClient(t, r1, admin, "acme", `{"name":"rotating","scopes":["read"]}`)
		failures := 0
		for try := range tries {
			rep := r2.admin(http.MethodPost, "/realms/acme/clients/"+id+"/rotate-secret", admin, `{}`).require(t, http.StatusOK, "rotate on "+r2.name)
			var body struct {
				ClientSecret string `json:"client_secret"`
			}
			rep.json(t, &body)
			if old := r1.token("acme", id, secret); old.err != nil || old.status != http.StatusUnauthorized {
				failures++
				t.Errorf("try %d: secret rotated on %s, the old one on %s: %s", try, r2.name, r1.name, old)
			}
			if fresh := r1.token("acme", id, body.ClientSecret); fresh.err != nil || fresh.status != http.StatusOK {
				failures++
				t.Errorf("try %d: secret rotated on %s, the new one on %s: %s", try, r2.name, r1.name, fresh)
			}
			secret = body.ClientSecret
		}
		t.Logf("%d rotations on one replica: old secret refused and new one accepted at once on the other, %d failures", tries, failures)
	})

	t.Run("DisableBindsTheOther", func(t *testing.T) {
		var delays []time.Duration
		for try := range tries {
			id, secret := newClient(t, r1, admin, "acme", fmt.Sprintf(`{"name":"to-disable-%d","scopes":["read"]}`, try))
			tok := r2.token("acme", id, secret).require(t, http.StatusOK, "token before the disable").accessToken()
			// The client asks for tokens on replica 2 all along.
			var mu sync.Mutex
			var asked []tokenResult
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						res := tokenResult{start: time.Now()}
						rep := r2.token("acme", id, secret)
						res.end, res.status = time.Now(), rep.status
						mu.Lock()
						asked = append(asked, res)
						mu.Unlock()
					}
				})
			}
			time.Sleep(20 * time.Millisecond)
			r1.admin(http.MethodPost, "/realms/acme/clients/"+id+"/disable", admin, "").require(t, http.StatusOK, "disable on "+r1.name)
			acked := time.Now()
			// Introspection on replica 2 shows the disable within the bound.
			for {
				active, _, rep := r2.introspect("acme", introspector[0], introspector[1], tok)
				if rep.err != nil || rep.status != http.StatusOK {
					t.Fatalf("introspection on %s: %s", r2.name, rep)
				}
				if !active {
					delays = append(delays, time.Since(acked))
					break
				}
				if time.Since(acked) > 3*realms.StaleBound {
					t.Fatalf("try %d: token of a client disabled on %s still active on %s after %s", try, r1.name, r2.name, time.Since(acked))
				}
				time.Sleep(5 * time.Millisecond)
			}
			// A token request that began after the disable was acknowledged
			// is refused.
			if rep := r2.token("acme", id, secret); rep.status != http.StatusUnauthorized {
				t.Errorf("try %d: client disabled on %s got %s on %s", try, r1.name, rep, r2.name)
			}
			time.Sleep(50 * time.Millisecond)
			close(stop)
			wg.Wait()
			for _, a := range asked {
				if a.start.After(acked) && a.status == http.StatusOK {
					t.Errorf("try %d: a token request begun %s after the disable was acknowledged got a token on %s",
						try, a.start.Sub(acked).Round(time.Microsecond), r2.name)
				}
			}
		}
		slices.Sort(delays)
		t.Logf("introspection on the other replica showed a disable %s after its acknowledgement (median of %d), at most %s; bound %s",
			delays[len(delays)/2].Round(time.Microsecond), len(delays), delays[len(delays)-1].Round(time.Microsecond), realms.StaleBound)
		if worst := delays[len(delays)-1]; worst > realms.StaleBound {
			t.Errorf("a disable took %s to show in introspection on the other replica, more than the bound %s", worst, realms.StaleBound)
		}
	})
}

// ---- 3: removals race references ----

// testRemovalsRace: a node deleted on one replica while a client restricted
// to it is created on the other, or a scope removed while a client is given
// it: never both. A slug deleted and created again never reaches what the
// old node's references reached.
func testRemovalsRace(t *testing.T, c *localCluster, admin string) {
	r1, r2 := c.replicas[0], c.replicas[1]
	tries := clusterTries(t)
	r1.admin(http.MethodPost, "/realms/acme/nodes", admin, `{"slug":"org-a","kind":"organization"}`).require(t, http.StatusCreated, "org-a")
	r1.admin(http.MethodPost, "/realms/acme/nodes", admin, `{"slug":"org-b","kind":"organization"}`).require(t, http.StatusCreated, "org-b")

	race := func(remove, reference func() reply) (removed, referenced reply) {
		var wg sync.WaitGroup
		wg.Go(func() { removed = remove() })
		wg.Go(func() { referenced = reference() })
		wg.Wait()
		return removed, referenced
	}

	t.Run("NodeDeleteAgainstClientCreate", func(t *testing.T) {
		outcomes := map[string]int{}
		for try := range tries {
			slug := fmt.Sprint("team-", try)
			r1.admin(http.MethodPost, "/realms/acme/nodes", admin, `{"slug":"`+slug+`","kind":"team","parent":"org-a"}`).require(t, http.StatusCreated, slug)
			deleted, created := race(
				func() reply { return r1.admin(http.MethodDelete, "/realms/acme/nodes/"+slug, admin, "") },
				func() reply {
					return r2.admin(http.MethodPost, "/realms/acme/clients", admin, `{"name":"restricted","scopes":["read"],"team_restrictions":["`+slug+`"]}`)
				})
			outcomes[fmt.Sprintf("delete %d, create %d", deleted.status, created.status)]++
			if deleted.status == http.StatusNoContent && created.status == http.StatusCreated {
				t.Errorf("try %d: node %s deleted on %s and a client restricted to it created on %s", try, slug, r1.name, r2.name)
			}
			if deleted.err != nil || created.err != nil || deleted.status >= 500 || created.status >= 500 {
				t.Errorf("try %d: delete %s / create %s", try, deleted, created)
			}
		}
		t.Logf("%d races of a node deletion against a client referring to it: %v", tries, outcomes)
	})

	t.Run("ScopeRemoveAgainstClientCreate", func(t *testing.T) {
		outcomes := map[string]int{}
		for try := range tries {
			scope := fmt.Sprint("api:", try)
			r1.admin(http.MethodPut, "/realms/acme/scopes/"+scope, admin, `{"description":"race"}`).require(t, http.StatusOK, scope)
			removed, created := race(
				func() reply { return r1.admin(http.MethodDelete, "/realms/acme/scopes/"+scope, admin, "") },
				func() reply {
					return r2.admin(http.MethodPost, "/realms/acme/clients", admin, `{"name":"scoped","scopes":["`+scope+`"]}`)
				})
			outcomes[fmt.Sprintf("remove %d, create %d", removed.status, created.status)]++
			if removed.status == http.StatusNoContent && created.status == http.StatusCreated {
				t.Errorf("try %d: scope %s removed on %s and given to a new client on %s", try, scope, r1.name, r2.name)
			}
			if removed.err != nil || created.err != nil || removed.status >= 500 || created.status >= 500 {
				t.Errorf("try %d: remove %s / create %s", try, removed, created)
			}
		}
		t.Logf("%d races of a scope removal against a client given it: %v", tries, outcomes)
	})

	t.Run("ReusedSlugInheritsNothing", func(t *testing.T) {
		r1.admin(http.MethodPost, "/realms/acme/nodes", admin, `{"slug":"reused","kind":"team","parent":"org-a"}`).require(t, http.StatusCreated, "reused")
		r1.admin(http.MethodPost, "/realms/acme/nodes", admin, `{"slug":"other","kind":"team","parent":"org-a"}`).require(t, http.StatusCreated, "other")
		id, secret := newClient(t, r1, admin, "acme", `{"name":"restricted","scopes":["read"],"team_restrictions":["reused"]}`)
		introspector, isecret := newClient(t, r1, admin, "acme", `{"name":"introspector","scopes":["read"]}`)
		old := r2.token("acme", id, secret).require(t, http.StatusOK, "token for team reused").accessToken()
		if _, body, _ := r2.introspect("acme", introspector, isecret, old); !slices.Contains(nodesOf(body), "reused") {
			t.Fatalf("the token's nodes are %v, want reused", body["nodes"])
		}
		// The client moves to another team; the old team goes, and a team
		// of the same slug is made under another organization.
		r1.admin(http.MethodPatch, "/realms/acme/clients/"+id, admin, `{"team_restrictions":["other"]}`).require(t, http.StatusOK, "move the client")
		r1.admin(http.MethodDelete, "/realms/acme/nodes/reused", admin, "").require(t, http.StatusNoContent, "delete team reused")
		r2.admin(http.MethodPost, "/realms/acme/nodes", admin, `{"slug":"reused","kind":"team","parent":"org-b"}`).require(t, http.StatusCreated, "reused under org-b")
		for _, r := range c.replicas {
			active, body, rep := r.introspect("acme", introspector, isecret, old)
			if rep.status != http.StatusOK || !active {
				t.Fatalf("%s: the old token should still be active (only its team is gone): %s", r.name, rep)
			}
			if nodes := nodesOf(body); slices.Contains(nodes, "reused") {
				t.Errorf("%s: a token issued for the deleted team reaches the new team of the same slug: nodes %v", r.name, nodes)
			}
		}
	})
}

func nodesOf(body map[string]any) []string {
	var out []string
	list, _ := body["nodes"].([]any)
	for _, n := range list {
		if s, ok := n.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
