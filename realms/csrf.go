package realms

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// CSRF values of browser pages are made and signed by the server, never
// chosen by the browser (a value planted in a cookie by another site or a
// sibling host must not be taken as this browser's):
//
//   - a browser id, carried in a pre-session cookie: "<id>.<expiry>.<mac>";
//   - form tokens, bound to what the form acts for (a browser id, a console
//     session): "<expiry>.<mac>".
//
// The MAC is HMAC-SHA-256 under a key derived from the master key, over a
// label that keeps the two kinds apart, the value and its expiry. Every
// replica holding the master key checks what any other made.

// BrowserIDLifetime is how long a browser id lives; it is renewed (same
// id, new expiry) when less than browserIDRenew is left, so that a form
// opened before the renewal still matches.
const (
	BrowserIDLifetime = 12 * time.Hour
	browserIDRenew    = time.Hour
)

// CSRF makes and checks browser ids and form tokens.
type CSRF struct{ key []byte }

// CSRF is the realm-independent maker of CSRF values.
func (r *Registry) CSRF() CSRF { return CSRF{key: r.keys.csrfKey} }

func (c CSRF) mac(label, value string, exp int64) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(value))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c CSRF) validMAC(label, value string, exp int64, mac string) bool {
	return hmac.Equal([]byte(c.mac(label, value, exp)), []byte(mac))
}

// NewBrowserID returns a new browser id and its cookie value.
func (c CSRF) NewBrowserID(now time.Time) (id, cookie string) {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	id = base64.RawURLEncoding.EncodeToString(b)
	return id, c.browserCookie(id, now)
}

func (c CSRF) browserCookie(id string, now time.Time) string {
	exp := now.Add(BrowserIDLifetime).Unix()
	return id + "." + strconv.FormatInt(exp, 10) + "." + c.mac("browser", id, exp)
}

// BrowserID reads a browser-id cookie: the id when the server made it and
// it has not expired. renewed, when not empty, is the cookie value to set
// instead (same id, later expiry).
func (c CSRF) BrowserID(cookie string, now time.Time) (id, renewed string, ok bool) {
	parts := strings.Split(cookie, ".")
	if len(parts) != 3 || parts[0] == "" {
		return "", "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Unix() >= exp || !c.validMAC("browser", parts[0], exp, parts[2]) {
		return "", "", false
	}
	if time.Unix(exp, 0).Sub(now) < browserIDRenew {
		renewed = c.browserCookie(parts[0], now)
	}
	return parts[0], renewed, true
}

// Token returns a form token bound to binding, valid until exp.
func (c CSRF) Token(binding string, exp time.Time) string {
	e := exp.Unix()
	return strconv.FormatInt(e, 10) + "." + c.mac("form", binding, e)
}

// Valid reports whether token is a form token the server made for binding
// and it has not expired.
func (c CSRF) Valid(token, binding string, now time.Time) bool {
	expS, mac, ok := strings.Cut(token, ".")
	if !ok || binding == "" {
		return false
	}
	exp, err := strconv.ParseInt(expS, 10, 64)
	return err == nil && now.Unix() < exp && c.validMAC("form", binding, exp, mac)
}

// PageOrigins are the origins the realm's browser pages are served at: the
// public URL's, and each host the realm claims. Their form posts come from
// one of them.
func (rl *Realm) PageOrigins() []string {
	out := []string{rl.reg.PublicOrigin()}
	for _, h := range rl.Hosts() {
		out = append(out, rl.reg.hosts.scheme+"://"+h)
	}
	return out
}
