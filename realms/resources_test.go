package realms

import (
	"context"
	"errors"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
)

// A resource that accepts a realm-defined scope refers to it in the
// stream, as a client does: the scope.referenced event is written with the
// resource, so a removal decided on any replica without seeing the
// resource fails at the stream; a removal that sees it is refused.
func TestResourcesReferToTheirScopes(t *testing.T) {
	rl := testRealm(t)
	ctx := context.Background()
	if err := rl.Structure().DefineScope(ctx, domain.ScopeDefined{Name: "files.read", Description: "Read files"}, testMeta()); err != nil {
		t.Fatal(err)
	}
	before := rl.models.Scopes.Version("files.read")
	res, err := rl.Resources().Create(ctx, "https://files.example.com/mcp",
		domain.ResourceSettings{Name: "Files", Scopes: []string{"files.read"}}, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	envs, err := rl.reg.store.ReadAggregate(ctx, rl.Name, domain.ScopeRef("files.read"))
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) == 0 {
		t.Fatal("the scope has no events; want scope.referenced by the resource")
	}
	last := envs[len(envs)-1]
	p, _ := last.Payload()
	if ref, ok := p.(domain.ScopeReferenced); !ok || ref.By != domain.ResourceRef(res.Identifier).String() || last.Seq == before {
		t.Fatalf("the scope's last event is %s %+v; want scope.referenced by the resource", last.Type, p)
	}
	var conflict *domain.ConflictError
	if err := rl.Structure().RemoveScope(ctx, "files.read", testMeta()); !errors.As(err, &conflict) {
		t.Fatalf("removing a scope a resource accepts: %v, want a conflict", err)
	}
	// An undefined scope is refused when the reference is written, too.
	_, err = rl.Resources().Create(ctx, "https://other.example.com/mcp",
		domain.ResourceSettings{Name: "Other", Scopes: []string{"nope"}}, testMeta())
	var invalid *domain.ValidationError
	if !errors.As(err, &invalid) {
		t.Fatalf("a resource with a scope outside the catalog: %v, want a validation error", err)
	}
	if err := rl.Resources().Delete(ctx, res.ID, Condition{}, testMeta()); err != nil {
		t.Fatal(err)
	}
	if err := rl.Structure().RemoveScope(ctx, "files.read", testMeta()); err != nil {
		t.Fatalf("removing the scope once its resource is gone: %v", err)
	}
}
