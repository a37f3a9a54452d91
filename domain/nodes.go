package domain

import (
	"fmt"
	"strings"
)

// Node kinds. A realm's tree: organizations hold teams; projects hold apps.
const (
	NodeOrganization = "organization"
	NodeTeam         = "team"
	NodeProject      = "project"
	NodeApp          = "app"
)

// AggregateNode is the aggregate type of realm structure nodes.
const AggregateNode = "node"

// NodeRef is the aggregate of the node named slug: every node that ever
// had the slug (a deleted node's slug can be used again).
func NodeRef(slug string) AggregateRef { return AggregateRef{Type: AggregateNode, ID: slug} }

// parentKind is the kind a node's parent must have ("" = a root).
var parentKind = map[string]string{
	NodeOrganization: "",
	NodeTeam:         NodeOrganization,
	NodeProject:      "",
	NodeApp:          NodeProject,
}

// Node is one node of a realm's tree. Its slug is its name; its identity
// is the slug together with Created, the stream sequence of its creation:
// a slug deleted and created again names a new node, and a reference
// written before that creation (a token's nodes, the teams of a grant) is
// not a reference to it (see Tree.Reaches).
type Node struct {
	Slug    string
	Name    string
	Kind    string
	Parent  string
	Deleted bool
	Created uint64
	Version uint64
}

// Apply folds one of the node's own events.
func (n *Node) Apply(seq uint64, p Payload) {
	switch e := p.(type) {
	case NodeCreated:
		*n = Node{Slug: e.Slug, Name: e.Name, Kind: e.Kind, Parent: e.Parent, Created: seq}
	case NodeRenamed:
		n.Name = e.Name
	case NodeDeleted:
		n.Deleted = true
	case NodeReferenced:
	default:
		return
	}
	n.Version = seq
}

// Tree answers questions about a realm's nodes. Deleted nodes are absent.
type Tree map[string]*Node

// Get returns a live node.
func (t Tree) Get(slug string) (*Node, bool) {
	n, ok := t[slug]
	if !ok || n.Deleted {
		return nil, false
	}
	return n, true
}

// Reaches keeps the slugs of a reference written at sequence asOf that
// still name the node they named then: live nodes created before asOf. A
// reference to a slug deleted and created again since reaches nothing.
// asOf 0 (not known) keeps every live node.
func (t Tree) Reaches(slugs []string, asOf uint64) []string {
	out := make([]string, 0, len(slugs))
	for _, s := range slugs {
		if n, ok := t.Get(s); ok && (asOf == 0 || n.Created < asOf) {
			out = append(out, s)
		}
	}
	return out
}

// Within reports whether node lies in the subtree rooted at ancestor
// (a node is within itself).
func (t Tree) Within(node, ancestor string) bool {
	for depth := 0; node != "" && depth < 8; depth++ {
		if node == ancestor {
			return true
		}
		n, ok := t.Get(node)
		if !ok {
			return false
		}
		node = n.Parent
	}
	return false
}

// CreateNode is the command behind POST /admin/realms/{realm}/nodes.
type CreateNode struct {
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Parent string `json:"parent"`
	// ConfirmHighRisk keeps a name that mixes lookalike scripts.
	ConfirmHighRisk bool `json:"confirm_high_risk,omitempty"`
}

// DecideCreateNode validates a new node against the tree.
func DecideCreateNode(cmd CreateNode, tree Tree) (NodeCreated, error) {
	if err := ValidateName("slug", cmd.Slug); err != nil {
		return NodeCreated{}, err
	}
	want, ok := parentKind[cmd.Kind]
	if !ok {
		return NodeCreated{}, &ValidationError{Field: "kind", Message: "kind must be organization, team, project or app"}
	}
	if _, exists := tree.Get(cmd.Slug); exists {
		return NodeCreated{}, ErrAlreadyExists
	}
	switch {
	case want == "" && cmd.Parent != "":
		return NodeCreated{}, &ValidationError{Field: "parent", Message: fmt.Sprintf("%s %s has no parent", article(cmd.Kind), cmd.Kind)}
	case want != "":
		p, ok := tree.Get(cmd.Parent)
		if !ok || p.Kind != want {
			return NodeCreated{}, &ValidationError{Field: "parent", Message: fmt.Sprintf("%s %s needs a parent %s; %q is not one", article(cmd.Kind), cmd.Kind, want, cmd.Parent)}
		}
	}
	name, err := displayName(cmd.Name, cmd.Slug)
	if err != nil {
		return NodeCreated{}, err
	}
	if err := checkNameScripts("node name", name, cmd.ConfirmHighRisk); err != nil {
		return NodeCreated{}, err
	}
	return NodeCreated{Slug: cmd.Slug, Name: name, Kind: cmd.Kind, Parent: cmd.Parent}, nil
}

// DecideRenameNode validates a new display name; one that mixes
// lookalike scripts needs confirmHighRisk.
func DecideRenameNode(n *Node, name string, confirmHighRisk bool) (NodeRenamed, error) {
	if n == nil || n.Deleted {
		return NodeRenamed{}, ErrNotFound
	}
	clean, err := displayName(name, "")
	if err != nil {
		return NodeRenamed{}, err
	}
	if err := checkNameScripts("node name", clean, confirmHighRisk); err != nil {
		return NodeRenamed{}, err
	}
	return NodeRenamed{Name: clean}, nil
}

// DecideDeleteNode refuses to delete a node something still refers to;
// references lists what does (child nodes, clients, members).
func DecideDeleteNode(n *Node, references []string) (NodeDeleted, error) {
	if n == nil || n.Deleted {
		return NodeDeleted{}, ErrNotFound
	}
	if len(references) > 0 {
		return NodeDeleted{}, &ConflictError{Message: fmt.Sprintf("node %s is still referenced by %v", n.Slug, references)}
	}
	return NodeDeleted{}, nil
}

func displayName(name, fallback string) (string, error) {
	if name == "" {
		name = fallback
	}
	if !IsDisplayText(name, 200) {
		return "", &ValidationError{Field: "name", Message: "name is required: at most 200 characters, one line, no control or format characters"}
	}
	return name, nil
}

// article is the indefinite article before a node kind.
func article(kind string) string {
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an"
	}
	return "a"
}
