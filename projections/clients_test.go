package projections

import (
	"slices"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
)

func TestClientFilter(t *testing.T) {
	tree := domain.Tree{
		"acme":     {Slug: "acme", Kind: domain.NodeOrganization},
		"acme-red": {Slug: "acme-red", Kind: domain.NodeTeam, Parent: "acme"},
		"beta":     {Slug: "beta", Kind: domain.NodeOrganization},
		"beta-one": {Slug: "beta-one", Kind: domain.NodeTeam, Parent: "beta"},
	}
	clients := map[string]*domain.Client{
		"org":   {ID: "org", ClientSettings: domain.ClientSettings{TeamRestrictions: []string{"acme"}, AccessPreset: domain.PresetFull}},
		"team":  {ID: "team", ClientSettings: domain.ClientSettings{TeamRestrictions: []string{"acme-red"}, Scopes: []string{"read"}}},
		"other": {ID: "other", ClientSettings: domain.ClientSettings{TeamRestrictions: []string{"beta-one"}, OptionalScopes: []string{"read"}}},
		"all":   {ID: "all", ClientSettings: domain.ClientSettings{AccessPreset: domain.PresetReadOnly}},
	}
	for _, tc := range []struct {
		name string
		f    ClientFilter
		want []string
	}{
		{"a team: restricted to it or to its organization", ClientFilter{TeamRestriction: "acme-red"}, []string{"org", "team"}},
		{"an organization: restricted to it", ClientFilter{TeamRestriction: "acme"}, []string{"org"}},
		{"a team of another organization", ClientFilter{TeamRestriction: "beta-one"}, []string{"other"}},
		{"all teams: the unrestricted", ClientFilter{TeamRestriction: AllTeams}, []string{"all"}},
		{"a node nobody is restricted to", ClientFilter{TeamRestriction: "beta"}, nil},
		{"a preset", ClientFilter{Preset: domain.PresetFull}, []string{"org"}},
		{"a scope, default or optional", ClientFilter{Scope: "read"}, []string{"other", "team"}},
		{"no filter", ClientFilter{}, []string{"all", "org", "other", "team"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Tree = tree
			var got []string
			for id, c := range clients {
				if tc.f.matches(c) {
					got = append(got, id)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("matches %v, want %v", got, tc.want)
			}
		})
	}
}
