package domain

import (
	"slices"
	"strings"
	"testing"
)

func TestTree(t *testing.T) {
	tree := testTree()
	for _, tc := range []struct {
		slug string
		live bool
	}{{"acme", true}, {"acme-red", true}, {"gone", false}, {"old", false}, {"missing", false}, {"", false}} {
		if n, ok := tree.Get(tc.slug); ok != tc.live || ok && n.Slug != tc.slug {
			t.Errorf("Get(%q) = %v, %v; want live %v", tc.slug, n, ok, tc.live)
		}
	}
	for _, tc := range []struct {
		node, ancestor string
		want           bool
	}{
		{"acme-red", "acme", true},
		{"acme", "acme", true},
		{"proj-app", "proj", true},
		{"acme", "acme-red", false},
		{"acme-red", "acme-blue", false},
		{"acme-red", "beta", false},
		{"beta-green", "acme", false},
		{"missing", "acme", false},
		{"gone", "acme", false}, // deleted: absent
		{"", "", false},
	} {
		if got := tree.Within(tc.node, tc.ancestor); got != tc.want {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.node, tc.ancestor, got, tc.want)
		}
	}
	// A parent cycle (never written by DecideCreateNode) ends the walk.
	loop := Tree{"a": {Slug: "a", Parent: "b"}, "b": {Slug: "b", Parent: "a"}}
	if loop.Within("a", "c") {
		t.Error("a cycle reached an outside node")
	}
}

func TestDecideCreateNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  CreateNode
		want NodeCreated
		err  func(*testing.T, error)
	}{
		{name: "an organization", cmd: CreateNode{Slug: "gamma", Name: "Gamma Inc.", Kind: NodeOrganization},
			want: NodeCreated{Slug: "gamma", Name: "Gamma Inc.", Kind: NodeOrganization}},
		{name: "a team in an organization", cmd: CreateNode{Slug: "acme-green", Name: "Green", Kind: NodeTeam, Parent: "acme"},
			want: NodeCreated{Slug: "acme-green", Name: "Green", Kind: NodeTeam, Parent: "acme"}},
		{name: "a project without a name is named by its slug", cmd: CreateNode{Slug: "proj2", Kind: NodeProject},
			want: NodeCreated{Slug: "proj2", Name: "proj2", Kind: NodeProject}},
		{name: "an app in a project", cmd: CreateNode{Slug: "proj-web", Name: "Web", Kind: NodeApp, Parent: "proj"},
			want: NodeCreated{Slug: "proj-web", Name: "Web", Kind: NodeApp, Parent: "proj"}},
		{name: "a deleted node's slug can be used again", cmd: CreateNode{Slug: "gone", Kind: NodeTeam, Parent: "beta"},
			want: NodeCreated{Slug: "gone", Name: "gone", Kind: NodeTeam, Parent: "beta"}},

		{name: "a slug that is no name", cmd: CreateNode{Slug: "Acme Corp", Kind: NodeOrganization},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "slug", `slug "Acme Corp" is invalid: use 1 to 63 characters from a-z, 0-9 and '-', starting with a letter or digit`)
			}},
		{name: "the slug is checked before the kind", cmd: CreateNode{Slug: "a.b", Kind: "folder"},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "slug", `slug "a.b" is invalid: use 1 to 63 characters from a-z, 0-9 and '-', starting with a letter or digit`)
			}},
		{name: "an unknown kind", cmd: CreateNode{Slug: "x", Kind: "folder"},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "kind", "kind must be organization, team, project or app")
			}},
		{name: "a slug in use", cmd: CreateNode{Slug: "acme", Kind: NodeOrganization},
			err: func(t *testing.T, err error) { wantIs(t, err, ErrAlreadyExists) }},
		{name: "a slug in use by a node of another kind", cmd: CreateNode{Slug: "acme-red", Kind: NodeProject},
			err: func(t *testing.T, err error) { wantIs(t, err, ErrAlreadyExists) }},
		{name: "a project with a parent", cmd: CreateNode{Slug: "p2", Kind: NodeProject, Parent: "acme"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "parent", "a project has no parent") }},
		{name: "an organization with a parent", cmd: CreateNode{Slug: "o2", Kind: NodeOrganization, Parent: "acme"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "parent", "an organization has no parent") }},
		{name: "a team without a parent", cmd: CreateNode{Slug: "t2", Kind: NodeTeam},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "parent", `a team needs a parent organization; "" is not one`)
			}},
		{name: "a team in a project", cmd: CreateNode{Slug: "t2", Kind: NodeTeam, Parent: "proj"},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "parent", `a team needs a parent organization; "proj" is not one`)
			}},
		{name: "a team in a team", cmd: CreateNode{Slug: "t2", Kind: NodeTeam, Parent: "acme-red"},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "parent", `a team needs a parent organization; "acme-red" is not one`)
			}},
		{name: "a team in a deleted organization", cmd: CreateNode{Slug: "t2", Kind: NodeTeam, Parent: "old"},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "parent", `a team needs a parent organization; "old" is not one`)
			}},
		{name: "an app without a project", cmd: CreateNode{Slug: "a2", Kind: NodeApp, Parent: "acme"},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "parent", `an app needs a parent project; "acme" is not one`)
			}},
		{name: "a name on two lines", cmd: CreateNode{Slug: "o3", Name: "two\nlines", Kind: NodeOrganization},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "name", "name is required: at most 200 characters, one line, no control or format characters")
			}},
		{name: "a name mixing Latin and Greek", cmd: CreateNode{Slug: "o3", Name: "Αcme", Kind: NodeOrganization},
			err: func(t *testing.T, err error) {
				wantConfirmation(t, err, `node name "Αcme" mixes Latin and Greek letters`)
			}},
		{name: "a name mixing Latin and Greek, confirmed", cmd: CreateNode{Slug: "o3", Name: "Αcme", Kind: NodeOrganization, ConfirmHighRisk: true},
			want: NodeCreated{Slug: "o3", Name: "Αcme", Kind: NodeOrganization}},
		{name: "a name of 201 characters", cmd: CreateNode{Slug: "o3", Name: strings.Repeat("n", 201), Kind: NodeOrganization},
			err: func(t *testing.T, err error) {
				wantValidation(t, err, "name", "name is required: at most 200 characters, one line, no control or format characters")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideCreateNode(tc.cmd, testTree())
			if tc.err != nil {
				tc.err(t, err)
				if got != (NodeCreated{}) {
					t.Errorf("a refused create returned %+v", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DecideCreateNode = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDecideRenameNode(t *testing.T) {
	deleted := &Node{Slug: "gone", Deleted: true}
	const nameRule = "name is required: at most 200 characters, one line, no control or format characters"
	for _, tc := range []struct {
		name    string
		node    *Node
		newName string
		confirm bool
		want    NodeRenamed
		err     func(*testing.T, error)
	}{
		{"a new name", &Node{Slug: "acme"}, "Acme Corporation", false, NodeRenamed{Name: "Acme Corporation"}, nil},
		{"Latin with a Cyrillic а", &Node{Slug: "acme"}, "Pаypal", false, NodeRenamed{},
			func(t *testing.T, err error) {
				wantConfirmation(t, err, `node name "Pаypal" mixes Latin and Cyrillic letters`)
			}},
		{"Latin with a Cyrillic а, confirmed", &Node{Slug: "acme"}, "Pаypal", true, NodeRenamed{Name: "Pаypal"}, nil},
		{"no name: the slug does not stand in", &Node{Slug: "acme"}, "", false, NodeRenamed{},
			func(t *testing.T, err error) { wantValidation(t, err, "name", nameRule) }},
		{"a zero-width space", &Node{Slug: "acme"}, "Ac\u200bme", false, NodeRenamed{},
			func(t *testing.T, err error) { wantValidation(t, err, "name", nameRule) }},
		{"no node", nil, "x", false, NodeRenamed{}, func(t *testing.T, err error) { wantIs(t, err, ErrNotFound) }},
		{"a deleted node", deleted, "x", false, NodeRenamed{}, func(t *testing.T, err error) { wantIs(t, err, ErrNotFound) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideRenameNode(tc.node, tc.newName, tc.confirm)
			if tc.err != nil {
				tc.err(t, err)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DecideRenameNode = %+v, %v", got, err)
			}
		})
	}
}

func TestDecideDeleteNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		node *Node
		refs []string
		err  func(*testing.T, error)
	}{
		{"nothing refers to it", &Node{Slug: "acme"}, nil, nil},
		{"still referenced", &Node{Slug: "acme"}, []string{"node acme-red", "client svc", "user u1"},
			func(t *testing.T, err error) {
				wantConflict(t, err, "", "node acme is still referenced by [node acme-red client svc user u1]")
			}},
		{"no node", nil, nil, func(t *testing.T, err error) { wantIs(t, err, ErrNotFound) }},
		{"a deleted node", &Node{Slug: "gone", Deleted: true}, nil, func(t *testing.T, err error) { wantIs(t, err, ErrNotFound) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecideDeleteNode(tc.node, tc.refs)
			if tc.err != nil {
				tc.err(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNodeApply(t *testing.T) {
	n := &Node{}
	n.Apply(4, NodeCreated{Slug: "acme", Name: "Acme", Kind: NodeOrganization})
	if *n != (Node{Slug: "acme", Name: "Acme", Kind: NodeOrganization, Created: 4, Version: 4}) {
		t.Fatalf("created = %+v", n)
	}
	n.Apply(5, NodeRenamed{Name: "Acme Corp"})
	n.Apply(6, ClientEnabled{}) // not a node event
	if n.Name != "Acme Corp" || n.Version != 5 {
		t.Fatalf("renamed = %+v", n)
	}
	// A reference moves the version only: a deletion decided before it
	// fails at the stream.
	n.Apply(6, NodeReferenced{By: "client/c1"})
	if n.Name != "Acme Corp" || n.Created != 4 || n.Version != 6 {
		t.Fatalf("referenced = %+v", n)
	}
	n.Apply(7, NodeDeleted{})
	if !n.Deleted || n.Version != 7 {
		t.Fatalf("deleted = %+v", n)
	}
	// Created again under the same slug: a fresh node.
	n.Apply(9, NodeCreated{Slug: "acme", Name: "New", Kind: NodeProject})
	if *n != (Node{Slug: "acme", Name: "New", Kind: NodeProject, Created: 9, Version: 9}) {
		t.Fatalf("re-created = %+v", n)
	}
}

// TestTreeReaches: a reference reaches a slug's node only if the node was
// created before the reference was written; a slug deleted and created
// again since names a node the reference never meant.
func TestTreeReaches(t *testing.T) {
	tree := Tree{
		"old":  {Slug: "old", Kind: NodeTeam, Created: 5},
		"anew": {Slug: "anew", Kind: NodeTeam, Created: 40}, // created again at 40
		"gone": {Slug: "gone", Kind: NodeTeam, Created: 3, Deleted: true},
	}
	for _, tc := range []struct {
		name  string
		asOf  uint64
		slugs []string
		want  []string
	}{
		{"written after both creations", 50, []string{"old", "anew"}, []string{"old", "anew"}},
		{"written before the slug was created again", 20, []string{"old", "anew"}, []string{"old"}},
		{"written in the creation's own write", 40, []string{"anew"}, []string{}},
		{"a deleted node reaches nothing", 50, []string{"gone"}, []string{}},
		{"an unknown slug reaches nothing", 50, []string{"nope"}, []string{}},
		{"not known when: every live node", 0, []string{"old", "anew", "gone"}, []string{"old", "anew"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tree.Reaches(tc.slugs, tc.asOf); !slices.Equal(got, tc.want) {
				t.Fatalf("Reaches(%v, %d) = %v, want %v", tc.slugs, tc.asOf, got, tc.want)
			}
		})
	}
}
