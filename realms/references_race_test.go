package realms_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
	"github.com/latchkeyhq/latchkey/realms"
)

// A node's deletion on one replica and a client restricted to it created
// on another, at once: never both. The client's decision validates the
// node, then reads its version to require it; the deletion may be applied
// by the runner between the two reads, and must then refuse the client
// rather than leave the requirement out.
func TestNodeDeletionNeverRacesPastAClientReferringToIt(t *testing.T) {
	srv := estest.Start(t, t.TempDir())
	_, one := limitedRegistry(t, srv, realms.DefaultLimits())
	_, two := limitedRegistry(t, srv, realms.DefaultLimits())
	ctx := context.Background()
	if _, err := one.Structure().CreateNode(ctx, domain.CreateNode{Slug: "org", Kind: domain.NodeOrganization}, sysMeta()); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for i := range 60 {
		slug := fmt.Sprint("team-", i)
		if _, err := one.Structure().CreateNode(ctx, domain.CreateNode{Slug: slug, Kind: domain.NodeTeam, Parent: "org"}, sysMeta()); err != nil {
			t.Fatal(err)
		}
		var deleted, created error
		var wg sync.WaitGroup
		wg.Go(func() { deleted = one.Structure().DeleteNode(ctx, slug, sysMeta()) })
		wg.Go(func() {
			_, created = two.Clients().Create(ctx, "", domain.ClientSettings{Name: "restricted", Scopes: []string{"read"}, TeamRestrictions: []string{slug}}, false, sysMeta())
		})
		wg.Wait()
		outcomes[fmt.Sprintf("delete %v, create %v", deleted == nil, created == nil)]++
		if deleted == nil && created == nil {
			t.Errorf("round %d: node %s deleted and a client restricted to it created", i, slug)
		}
	}
	t.Logf("outcomes (true: succeeded): %v", outcomes)
}
