package handlers

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// sessionView is one access token in the connected-apps view.
type sessionView struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	JTI        string `json:"jti"`
	Status     string `json:"status"`
	Subject    string `json:"sub"`
	Scope      string `json:"scope"`
	// Preset and Teams are what the token may do, and on which nodes,
	// as issued (introspection evaluates a user's token live).
	Preset    string   `json:"preset,omitempty"`
	Teams     []string `json:"teams"`
	IssuedAt  int64    `json:"issued_at"`
	LastUsed  int64    `json:"last_used,omitempty"`
	ExpiresAt int64    `json:"expires_at"`
}

// listSessions is GET /admin/realms/{realm}/sessions: the realm's tokens
// grouped by client, filtered by client_id, subject and status, with cursor
// pagination.
func (a *api) listSessions(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	filter := realms.SessionFilter{
		ClientID: c.QueryParam("client_id"),
		Subject:  c.QueryParam("subject"),
		Status:   domain.TokenStatus(c.QueryParam("status")),
	}
	switch filter.Status {
	case "", domain.StatusActive, domain.StatusExpired, domain.StatusRevoked:
	default:
		return badRequest("status must be active, expired or revoked")
	}
	after, ok := decodeCursor(c.QueryParam("cursor"))
	if !ok {
		return badRequest("malformed cursor")
	}
	page, next := rl.Tokens().List(filter, after, limit, a.now().Unix())
	out := struct {
		Sessions   []sessionView `json:"sessions"`
		NextCursor string        `json:"next_cursor,omitempty"`
	}{Sessions: make([]sessionView, 0, len(page)), NextCursor: encodeCursor(next)}
	clients := rl.Clients()
	for _, t := range page {
		name := ""
		if cl, err := clients.Get(t.ClientID); err == nil {
			name = cl.Name
		}
		out.Sessions = append(out.Sessions, sessionView{
			ClientID: t.ClientID, ClientName: name, JTI: t.JTI, Status: string(t.Status),
			Subject: t.Subject, Scope: t.Scope, Preset: t.Preset, Teams: nonNilStrings(t.Nodes),
			IssuedAt: t.IssuedAt, LastUsed: t.LastUsed, ExpiresAt: t.Expires,
		})
	}
	return c.JSON(http.StatusOK, out)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Cursors are opaque to callers: client number and issue order, base64url.
func encodeCursor(cur *realms.Cursor) string {
	if cur == nil {
		return ""
	}
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(cur.Client))
	binary.BigEndian.PutUint32(b[8:], cur.Ord)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (*realms.Cursor, bool) {
	if s == "" {
		return nil, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 12 {
		return nil, false
	}
	client := binary.BigEndian.Uint64(b[:8])
	if client > 1<<31 {
		return nil, false
	}
	return &realms.Cursor{Client: int(client), Ord: binary.BigEndian.Uint32(b[8:])}, true
}

// revokeTokenByAdmin is DELETE /admin/realms/{realm}/tokens/{jti}: effective
// before the response.
func (a *api) revokeTokenByAdmin(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	if err := rl.Tokens().RevokeByID(c.Request().Context(), c.Param("jti"), callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// revokeClientTokens is POST /admin/realms/{realm}/clients/{id}/revoke-tokens:
// one event and one rule revoke every token the client holds; new tokens
// are still issued.
func (a *api) revokeClientTokens(c echo.Context) error {
	rl, cl, err := a.changeableClientOf(c)
	if err != nil {
		return err
	}
	if err := rl.Clients().RevokeTokens(c.Request().Context(), cl.ID, "revoked by an administrator", callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
