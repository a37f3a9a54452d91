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
// the token may act on: those the client's roles (or owner node) allow,
// narrowed to one by a tenant:<slug> or team:<slug> scope.
func DecideClientCredentials(c *Client, requestedScope string, tree Tree) (ClientCredentialsGrant, *OAuthError) {
	if !c.Allows(GrantClientCredentials) {
		return ClientCredentialsGrant{}, &OAuthError{Code: ErrUnauthorizedClient, Description: "client is not allowed the client_credentials grant"}
	}
	req, oerr := parseScope(requestedScope)
	if oerr != nil {
		return ClientCredentialsGrant{}, oerr
	}
	scopes, oerr := grantScopes(req.scopes, c.Scopes)
	if oerr != nil {
		return ClientCredentialsGrant{}, oerr
	}
	nodes := ServiceNodes(c, tree)
	if req.node != "" {
		if !anyWithin(tree, req.node, nodes) {
			return ClientCredentialsGrant{}, &OAuthError{Code: ErrInvalidScope, Description: "this client may not act on node " + req.node}
		}
		nodes = []string{req.node}
	}
	return ClientCredentialsGrant{
		Subject: c.ID, Scope: strings.Join(scopes, " "), Nodes: nodes,
		Preset: c.AccessPreset, Lifetime: c.AccessTokenLifetime,
	}, nil
}

// ServiceNodes are the nodes a service client's tokens may act on: the
// nodes of its roles that its owner node and team restrictions allow — and
// where a role sits above a restriction (a role on an organization, a
// restriction to one of its teams), the restricted nodes under the role —
// or its owner node when it has no roles.
func ServiceNodes(c *Client, tree Tree) []string {
	nodes := []string{}
	add := func(n string) {
		if !contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	for _, r := range c.Roles {
		if _, ok := tree.Get(r.Node); !ok {
			continue
		}
		if c.permits(r.Node, tree) {
			add(r.Node)
			continue
		}
		for _, t := range c.TeamRestrictions {
			if _, ok := tree.Get(t); ok && tree.Within(t, r.Node) && c.permits(t, tree) {
				add(t)
			}
		}
	}
	if len(nodes) == 0 && c.OwnerNode != "" {
		if _, ok := tree.Get(c.OwnerNode); ok {
			nodes = append(nodes, c.OwnerNode)
		}
	}
	return nodes
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
