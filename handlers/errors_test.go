package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// records keeps the log records a test's server writes.
type records struct {
	mu   sync.Mutex
	list []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// failures returns the "request failed" records with their attributes.
func (r *records) failures() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, rec := range r.list {
		if rec.Message != "request failed" {
			continue
		}
		attrs := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		out = append(out, attrs)
	}
	return out
}

// errorServer is the real echo server of New, with one more route that
// fails with whatever error the test sets: no registry and no NATS are
// needed to see how an error is answered.
func errorServer(t *testing.T) (*echo.Echo, *records, *error) {
	t.Helper()
	logs := &records{}
	e := New(Config{Log: slog.New(logs)})
	var fail error
	e.GET("/realms/:realm/fail", func(echo.Context) error { return fail })
	e.GET("/admin/fail", func(echo.Context) error { return fail })
	return e, logs, &fail
}

func TestErrorsMapToHTTP(t *testing.T) {
	e, logs, fail := errorServer(t)
	for _, tc := range []struct {
		name   string
		err    error
		path   string // default /realms/acme/fail
		status int
		code   string            // the body's error; empty for the HTML page
		desc   string            // part of error_description, if any
		header map[string]string // exact header values
	}{
		{name: "validation", err: &domain.ValidationError{Field: "x", Message: "x is wrong", Details: []string{"x is wrong"}},
			status: 400, code: "invalid_request", desc: "x is wrong"},
		{name: "not found, named", err: domain.NotFound("client c1"), status: 404, code: "not_found", desc: "client c1 does not exist"},
		{name: "not found, name sanitized", err: domain.NotFound(`realm a"b`), status: 404, code: "not_found", desc: "realm a?b does not exist"},
		{name: "not found", err: domain.ErrNotFound, status: 404, code: "not_found"},
		{name: "already exists", err: domain.ErrAlreadyExists, status: 409, code: "conflict"},
		{name: "conflict of state", err: &domain.ConflictError{Message: "changed since the version sent"}, status: 409, code: "conflict"},
		{name: "conflict with a code", err: &domain.ConflictError{Code: "confirmation_required", Message: "confirm"}, status: 409, code: "confirmation_required"},
		{name: "lost race", err: eventstore.ErrConflict, status: 409, code: "conflict"},
		{name: "stale If-Match", err: domain.ErrPreconditionFailed, status: 412, code: "precondition_failed"},
		{name: "wrapped", err: fmt.Errorf("client c1: %w", domain.ErrPreconditionFailed), status: 412, code: "precondition_failed"},
		{name: "oauth", err: &domain.OAuthError{Code: domain.ErrInvalidGrant, Description: "code used"}, status: 400, code: "invalid_grant", desc: "code used"},
		{name: "oauth invalid_client", err: &domain.OAuthError{Code: domain.ErrInvalidClient, Description: "client authentication failed"},
			status: 401, code: "invalid_client", header: map[string]string{"WWW-Authenticate": `Basic realm="acme"`}},
		{name: "oauth description sanitized", err: &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "parameter \"é\" is repeated"},
			status: 400, code: "invalid_request", desc: "parameter ??? is repeated"},
		{name: "bearer, no token", err: bearerChallenge(adminRealm, domain.ScopeManagement, 401, "", "a bearer token is required"), path: "/admin/fail",
			status: 401, code: "invalid_token", header: map[string]string{"WWW-Authenticate": `Bearer realm="latchkey"`}},
		{name: "bearer, invalid", err: bearerChallenge("acme", domain.ScopeOpenID, 401, domain.ErrInvalidToken, "expired"),
			status: 401, code: "invalid_token", header: map[string]string{"WWW-Authenticate": `Bearer realm="acme", error="invalid_token", error_description="expired"`}},
		{name: "bearer, scope", err: bearerChallenge(adminRealm, domain.ScopeManagement, 403, domain.ErrInsufficientScope, "lacks management"), path: "/admin/fail",
			status: 403, code: "insufficient_scope",
			header: map[string]string{"WWW-Authenticate": `Bearer realm="latchkey", error="insufficient_scope", error_description="lacks management", scope="management"`}},
		{name: "browser page", err: errorPage(409, "acme", "This sign-in is already complete."), status: 409,
			header: map[string]string{"Content-Type": echo.MIMETextHTMLCharsetUTF8, "X-Frame-Options": "DENY"}},
		{name: "request refused by the HTTP side", err: &statusError{status: 415, code: errUnsupportedMedia, desc: "Content-Type must be application/json"},
			status: 415, code: "unsupported_media_type"},
		{name: "store unavailable", err: fmt.Errorf("append: %w", eventstore.ErrUnavailable), status: 503, code: "temporarily_unavailable",
			header: map[string]string{"Retry-After": "1"}},
		{name: "echo's own", err: echo.ErrMethodNotAllowed, status: 405, code: "method_not_allowed"},
		{name: "too many failures", err: domain.TooManyFailures("too many failed client authentications", domain.ErrInvalidClient, 1090, 1000),
			status: 429, code: "invalid_client", desc: "retry after 90 seconds", header: map[string]string{"Retry-After": "90"}},
		{name: "no capacity", err: &domain.LimitError{Busy: true, RetryAfter: 1, Message: "busy"},
			status: 503, code: "temporarily_unavailable", header: map[string]string{"Retry-After": "1"}},
		{name: "browser page with a wait", err: &pageError{status: 429, realm: "acme", message: "Too many failed sign-ins", retryAfter: 600},
			status: 429, desc: "Too many failed sign-ins", header: map[string]string{"Retry-After": "600", "Content-Type": echo.MIMETextHTMLCharsetUTF8}},
		{name: "every answer's headers", err: domain.ErrNotFound, status: 404, code: "not_found",
			header: map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Strict-Transport-Security": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*fail = tc.err
			path := tc.path
			if path == "" {
				path = "/realms/acme/fail"
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			for k, v := range tc.header {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if _, set := tc.header["WWW-Authenticate"]; !set && rec.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("unexpected WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
			}
			if tc.code == "" {
				want := "This sign-in is already complete."
				if tc.desc != "" {
					want = tc.desc
				}
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("error page does not say why:\n%s", rec.Body)
				}
				return
			}
			var body apiError
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			if body.Error != tc.code || !strings.Contains(body.Description, tc.desc) {
				t.Errorf("error %q %q, want %q containing %q", body.Error, body.Description, tc.code, tc.desc)
			}
		})
	}
	if f := logs.failures(); len(f) != 0 {
		t.Errorf("errors of known kinds were logged as failures: %v", f)
	}
}

func TestBulkNotFoundNamesTheMissingIDs(t *testing.T) {
	e, _, fail := errorServer(t)
	*fail = &domain.NotFoundError{Message: "no client was deleted: some ids name no client", Missing: []string{"a", "b"}}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/fail", nil))
	var body apiError
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 404 || strings.Join(body.MissingIDs, ",") != "a,b" {
		t.Fatalf("HTTP %d %s, want 404 with missing_ids a, b", rec.Code, rec.Body)
	}
}

func TestUnknownErrorIsLoggedOnceAndNotShown(t *testing.T) {
	e, logs, fail := errorServer(t)
	*fail = errors.New("nats: connection to 10.1.2.3 refused")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/fail", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("HTTP %d, Cache-Control %q; want 503, no-store", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if strings.Contains(rec.Body.String(), "10.1.2.3") || !strings.Contains(rec.Body.String(), `"error":"temporarily_unavailable"`) {
		t.Errorf("body %s: want temporarily_unavailable without the cause", rec.Body)
	}
	f := logs.failures()
	if len(f) != 1 {
		t.Fatalf("logged %d times, want once: %v", len(f), f)
	}
	if id := rec.Header().Get(echo.HeaderXRequestID); id == "" || f[0]["request_id"] != id || !strings.Contains(f[0]["err"], "10.1.2.3") {
		t.Errorf("log %v: want the cause and request id %q", f[0], id)
	}
}
