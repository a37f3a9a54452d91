package handlers

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// Fuzz targets of the HTTP side's own parsers: client credentials and
// OAuth form bodies. Seeds are below and in testdata/fuzz/<target>; run
// longer with .ci/fuzz.

// Any Authorization header and form read as client credentials without
// panicking, and fail only as invalid_client or invalid_request; Basic
// credentials made by the RFC 6749 §2.3.1 rules read back exactly.
func FuzzReadClientAuth(f *testing.F) {
	for _, s := range [][4]string{
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("c1:s%3A1")), "", "", ""},
		{"basic  " + base64.StdEncoding.EncodeToString([]byte("c1")), "c1", "", ""},
		{"Bearer x", "", "", ""},
		{"Basic !!!", "", "", ""},
		{"", "c1", "secret", "s"},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:x")), "c2", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3] != "", false)
	}
	f.Fuzz(func(t *testing.T, authorization, id, secret string, withSecret, public bool) {
		fm := form{}
		if id != "" {
			fm["client_id"] = id
		}
		if withSecret {
			fm["client_secret"] = secret
		}
		auth, err := readClientAuth(authorization, fm, public)
		var oerr *domain.OAuthError
		if err != nil && (!errors.As(err, &oerr) || oerr.Code != domain.ErrInvalidClient && oerr.Code != domain.ErrInvalidRequest) {
			t.Fatalf("readClientAuth(%q, %v): %v", authorization, fm, err)
		}
		if err == nil && auth.ClientID == "" && auth.Method != domain.AuthSecretBasic {
			t.Fatalf("readClientAuth(%q, %v) accepted no client id", authorization, fm)
		}
		// Basic made by the rules, without a form: exactly id and secret.
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		auth, err = readClientAuth(basic, form{}, public)
		if err != nil || auth.ClientID != id || auth.Secret != secret || auth.Method != domain.AuthSecretBasic {
			t.Fatalf("Basic of %q and %q read as %+v, %v", id, secret, auth, err)
		}
	})
}

// Any body and Content-Type read as an OAuth form without panicking; it is
// refused as invalid_request or 413, or read as exactly what url.ParseQuery
// reads, with no parameter twice.
func FuzzOAuthForm(f *testing.F) {
	for _, s := range [][2]string{
		{"application/x-www-form-urlencoded", "grant_type=client_credentials&scope=read+write"},
		{"application/x-www-form-urlencoded; charset=utf-8", "a=1&a=2"},
		{"application/x-www-form-urlencoded", "a=%zz"},
		{"application/x-www-form-urlencoded", "a=1;b=2"},
		{"application/json", `{"a":1}`},
		{"", ""},
		{"application/x-www-form-urlencoded", "=&&=x&k="},
	} {
		f.Add(s[0], s[1])
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, contentType, body string) {
		req := httptest.NewRequest(http.MethodPost, "/realms/acme/protocol/openid-connect/token", strings.NewReader(body))
		req.Header.Set(echo.HeaderContentType, contentType)
		got, err := parseOAuthForm(e.NewContext(req, httptest.NewRecorder()))
		var oerr *domain.OAuthError
		var serr *statusError
		switch {
		case errors.As(err, &oerr):
			if oerr.Code != domain.ErrInvalidRequest {
				t.Fatalf("%q: %v", body, err)
			}
			return
		case errors.As(err, &serr):
			if serr.status != http.StatusRequestEntityTooLarge || len(body) <= maxFormBody {
				t.Fatalf("%q: %v", body, err)
			}
			return
		case err != nil:
			t.Fatalf("%q: untyped error %v", body, err)
		}
		want, err := url.ParseQuery(body)
		if err != nil || len(want) != len(got) {
			t.Fatalf("%q read as %v; url.ParseQuery: %v, %v", body, got, want, err)
		}
		for k, v := range want {
			if len(v) != 1 || got[k] != v[0] {
				t.Fatalf("%q: %s read as %q, url.ParseQuery gives %q", body, k, got[k], v)
			}
		}
	})
}
