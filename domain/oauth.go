package domain

import "strings"

// OAuth 2.0 error codes (RFC 6749 §5.2, RFC 6750 §3.1).
const (
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidClient        = "invalid_client"
	ErrInvalidGrant         = "invalid_grant"
	ErrUnauthorizedClient   = "unauthorized_client"
	ErrUnsupportedGrantType = "unsupported_grant_type"
	ErrInvalidScope         = "invalid_scope"
	ErrInvalidToken         = "invalid_token"
	ErrInsufficientScope    = "insufficient_scope"
)

// OAuthError is a protocol error with its RFC code and a readable reason.
type OAuthError struct {
	Code        string
	Description string
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// ClientCredentialsGrant is the decision to issue a client-credentials token.
type ClientCredentialsGrant struct {
	Subject  string
	Scope    string
	Nodes    []string
	Preset   string
	Lifetime int64
}

// DecideClientCredentials checks that an authenticated client may use the
// client-credentials grant with the requested scope, and decides the nodes
// the token may act on (see ServiceNodes), narrowed to one by a
// tenant:<slug> or team:<slug> scope, and its preset.
func DecideClientCredentials(c *Client, requestedScope string, tree Tree) (ClientCredentialsGrant, *OAuthError) {
	if !c.Allows(GrantClientCredentials) {
		return ClientCredentialsGrant{}, &OAuthError{Code: ErrUnauthorizedClient, Description: "client is not allowed the client_credentials grant"}
	}
	req, oerr := parseScope(requestedScope)
	if oerr != nil {
		return ClientCredentialsGrant{}, oerr
	}
	scopes, oerr := grantScopes(req.scopes, c.Scopes, c.OptionalScopes)
	if oerr != nil {
		return ClientCredentialsGrant{}, oerr
	}
	nodes := ServiceNodes(c, tree)
	if len(nodes) == 0 && c.NodeBound() {
		// Roles, an owner node or team restrictions make the client's reach
		// a set of nodes; when none is left, an empty list must not read as
		// "no limit".
		return ClientCredentialsGrant{}, &OAuthError{Code: ErrInvalidScope, Description: "this client's roles, owner node and team restrictions leave no node to act on"}
	}
	if req.node != "" {
		if !anyWithin(tree, req.node, nodes) {
			return ClientCredentialsGrant{}, &OAuthError{Code: ErrInvalidScope, Description: "this client may not act on node " + req.node}
		}
		nodes = []string{req.node}
	}
	return ClientCredentialsGrant{
		Subject: c.ID, Scope: strings.Join(scopes, " "), Nodes: nodes,
		Preset: c.servicePreset(nodes, tree), Lifetime: c.AccessTokenLifetime,
	}, nil
}

// ServiceNodes are the nodes a service client's tokens may act on: the
// nodes of its roles (without roles, its owner node, or else its team
// restrictions) that its owner node and team restrictions allow — and where
// such a node sits above a restriction (a role on an organization, a
// restriction to one of its teams), the restricted nodes under it.
func ServiceNodes(c *Client, tree Tree) []string {
	roots := make([]string, 0, len(c.Roles))
	for _, r := range c.Roles {
		roots = append(roots, r.Node)
	}
	if len(roots) == 0 && c.OwnerNode != "" {
		roots = append(roots, c.OwnerNode)
	}
	if len(roots) == 0 {
		roots = append(roots, c.TeamRestrictions...)
	}
	nodes := []string{}
	add := func(n string) {
		if !contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	for _, root := range roots {
		if _, ok := tree.Get(root); !ok {
			continue
		}
		if c.permits(root, tree) {
			add(root)
			continue
		}
		for _, t := range c.TeamRestrictions {
			if _, ok := tree.Get(t); ok && tree.Within(t, root) && c.permits(t, tree) {
				add(t)
			}
		}
	}
	return nodes
}

// NodeBound reports whether the client's tokens are limited to nodes.
func (c *Client) NodeBound() bool {
	return len(c.Roles) > 0 || c.OwnerNode != "" || len(c.TeamRestrictions) > 0
}

// servicePreset is a service token's access: full only where the client's
// preset is full and, if it has roles, its role on every node the token
// carries is editor or admin — a viewer reads, as with users.
func (c *Client) servicePreset(nodes []string, tree Tree) string {
	if c.AccessPreset != PresetFull || len(c.Roles) == 0 {
		return c.AccessPreset
	}
	for _, n := range nodes {
		if role := strongestRole(c.Roles, n, tree); role == "" || role == "viewer" {
			return PresetReadOnly
		}
	}
	return PresetFull
}

// permits reports whether the client's owner node and team restrictions
// let it reach node. An organization in the restrictions covers every team
// under it, including teams added later.
func (c *Client) permits(node string, tree Tree) bool {
	if c.OwnerNode != "" && !tree.Within(node, c.OwnerNode) {
		return false
	}
	return len(c.TeamRestrictions) == 0 || anyWithin(tree, node, c.TeamRestrictions)
}

func anyWithin(tree Tree, node string, roots []string) bool {
	for _, r := range roots {
		if tree.Within(node, r) {
			return true
		}
	}
	return false
}
