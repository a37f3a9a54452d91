package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// maxFormBody bounds OAuth form posts (64 KiB); a larger body is 413.
const maxFormBody = 64 << 10

// errBodyTooLarge marks a body over its limit.
var errBodyTooLarge = errors.New("request body too large")

// form is a parsed OAuth request body in which every parameter appeared at
// most once (RFC 6749 §3.1, §3.2).
type form map[string]string

// parseOAuthForm reads an application/x-www-form-urlencoded body strictly:
// wrong content type, malformed encoding or a repeated parameter is an
// OAuth error, a body over 64 KiB is 413, and nothing else happens.
func parseOAuthForm(c echo.Context) (form, error) {
	values, err := readFormBody(c)
	if errors.Is(err, errBodyTooLarge) {
		return nil, &statusError{status: http.StatusRequestEntityTooLarge, code: errTooLarge, desc: "request body exceeds 64 KiB"}
	}
	if err != nil {
		return nil, err
	}
	f := make(form, len(values))
	for k, v := range values {
		if len(v) > 1 && k == "resource" {
			return nil, &domain.OAuthError{Code: domain.ErrInvalidTarget, Description: "an access token is for one resource: send resource once"}
		}
		if len(v) > 1 {
			return nil, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "parameter " + k + " is repeated"}
		}
		f[k] = v[0]
	}
	return f, nil
}

// readFormBody reads an application/x-www-form-urlencoded body of at most
// 64 KiB, refusing malformed encoding (bad escapes, ';' separators). It
// fails with errBodyTooLarge or a *domain.OAuthError saying what is wrong.
func readFormBody(c echo.Context) (url.Values, error) {
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationForm {
		return nil, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "Content-Type must be application/x-www-form-urlencoded"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, maxFormBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errBodyTooLarge
		}
		return nil, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "could not read the request body"}
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "malformed form body"}
	}
	return values, nil
}
