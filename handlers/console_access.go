package handlers

import (
	"net"
	"strings"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// What has access, as "My access" and a realm's "Active sessions" show it
// (Coralogix's Security > Active Sessions): connected apps (tokens grouped
// by the client they were issued to) and UI sessions (browser sign-ins).

// appGroup is one client's tokens.
type appGroup struct {
	ClientID, ClientName string
	// Console: the console's own tokens (revoking them signs out).
	Console bool
	Tokens  []tokenRow
}

// tokenRow is one token of a connected app.
type tokenRow struct {
	JTI, Status, User, Permissions, Scope string
	IssuedAt, LastUsed, Expires           int64
}

// uiSessionRow is one browser session.
type uiSessionRow struct {
	ID, UserID, User, Device, Browser, IP, Location string
	LastActive, Expires                             int64
	// Current: the browser session this console signed in with.
	Current bool
}

// groupTokens groups a page of tokens (already in client order) by client.
func groupTokens(rl *realms.Realm, page []realms.TokenInfo) []appGroup {
	var out []appGroup
	users := map[string]string{}
	for _, t := range page {
		if len(out) == 0 || out[len(out)-1].ClientID != t.ClientID {
			g := appGroup{ClientID: t.ClientID, ClientName: t.ClientID, Console: t.ClientID == domain.ConsoleClientID}
			if cl, err := rl.Clients().Get(t.ClientID); err == nil {
				g.ClientName = cl.Name
			}
			out = append(out, g)
		}
		name, ok := users[t.Subject]
		if !ok {
			name = t.Subject
			if u, err := rl.Users().Get(t.Subject); err == nil {
				name = u.Username
			}
			users[t.Subject] = name
		}
		g := &out[len(out)-1]
		g.Tokens = append(g.Tokens, tokenRow{
			JTI: t.JTI, Status: string(t.Status), User: name, Permissions: permissions(t), Scope: t.Scope,
			IssuedAt: t.IssuedAt, LastUsed: t.LastUsed, Expires: t.Expires,
		})
	}
	return out
}

// permissions describes what a token may do: its preset and the teams or
// nodes it is limited to.
func permissions(t realms.TokenInfo) string {
	preset := map[string]string{domain.PresetFull: "Full access", domain.PresetReadOnly: "Read-only"}[t.Preset]
	if preset == "" {
		preset = "No preset"
	}
	if len(t.Nodes) == 0 {
		return preset
	}
	return preset + " · " + strings.Join(t.Nodes, ", ")
}

// sessionRows describes browser sessions; current is the console's own.
func sessionRows(rl *realms.Realm, list []*domain.Session, current string) []uiSessionRow {
	out := make([]uiSessionRow, 0, len(list))
	for _, s := range list {
		u, err := rl.Users().Get(s.UserID)
		if err != nil {
			continue // a deleted user's: it can never be used again
		}
		out = append(out, uiSessionRow{
			ID: s.SessionID, UserID: s.UserID, User: u.Username, Device: s.Device, Browser: s.Browser, IP: s.IP,
			Location: location(s.IP), LastActive: s.LastActive, Expires: s.ExpiresAt, Current: s.SessionID == current,
		})
	}
	return out
}

// location is where an IP address is, as far as the server knows without
// a location database: this machine, a private network, or unknown.
func location(ip string) string {
	addr := net.ParseIP(ip)
	switch {
	case addr == nil:
		return "unknown"
	case addr.IsLoopback():
		return "this machine"
	case addr.IsPrivate() || addr.IsLinkLocalUnicast():
		return "private network"
	}
	return "unknown"
}
