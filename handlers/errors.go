package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// Handlers return errors; answerError, below, is the one place where an
// error becomes a status, a body and headers.

// apiError is every error body: RFC 6749 §5.2 shape, used by the admin API
// too so scripts parse one format.
type apiError struct {
	Error       string   `json:"error"`
	Description string   `json:"error_description,omitempty"`
	Details     []string `json:"details,omitempty"`
	// MissingIDs names the ids of a bulk request that name nothing.
	MissingIDs []string `json:"missing_ids,omitempty"`
}

// Error codes beyond RFC 6749's, for the admin API.
const (
	errNotFound         = "not_found"
	errConflict         = "conflict"
	errPrecondition     = "precondition_failed"
	errUnsupportedMedia = "unsupported_media_type"
	errTooLarge         = "request_too_large"
	errMethodNotAllowed = "method_not_allowed"
	errServer           = "temporarily_unavailable"
)

// statusError is a request refused by the HTTP side itself, before any
// command: a body that cannot be read, a malformed parameter.
type statusError struct {
	status      int
	code, desc  string
	retryAfterS string // Retry-After, when set
}

func (e *statusError) Error() string { return e.code + ": " + e.desc }

// badRequest is a 400 invalid_request with a description.
func badRequest(desc string) error {
	return &statusError{status: http.StatusBadRequest, code: domain.ErrInvalidRequest, desc: desc}
}

// bearerError is a protected resource's refusal (RFC 6750 §3): its
// challenge names the protection realm, the error (left out when the
// request carried no token at all) and, for insufficient_scope, the scope
// that would have been enough. A refusal of a DPoP-bound token (dpop) is
// a DPoP challenge (RFC 9449 §7.1) naming the algorithms proofs may use;
// a request without a token is offered both schemes.
type bearerError struct {
	realm, scope string
	status       int
	code, desc   string
	dpop         bool
}

func (e *bearerError) Error() string { return "bearer " + e.code + ": " + e.desc }

// pageError is an error of a browser page (authorize, sign-in, consent,
// logout): answered with the HTML error page, never redirected anywhere.
type pageError struct {
	status     int
	realm      string
	message    string
	retryAfter int64 // seconds; Retry-After when set
}

func (e *pageError) Error() string { return e.message }

// answerError answers a request that failed with err:
//
//	*pageError                  → the HTML error page, its status
//	*bearerError                → RFC 6750: its status, WWW-Authenticate: Bearer … (DPoP … for a bound token, RFC 9449)
//	*domain.OAuthError          → RFC 6749 §5.2: 400; invalid_client 401 with WWW-Authenticate: Basic realm="<realm>";
//	                              invalid_token (registration, RFC 7591/7592) 401 with WWW-Authenticate: Bearer
//	*statusError                → its status and code
//	*domain.LimitError          → 429 (Busy: 503) with Retry-After, its code (default temporarily_unavailable)
//	*domain.ValidationError     → 400 invalid_request, with details
//	not found                   → 404 not_found (naming what, and any missing_ids)
//	*domain.ConflictError       → 409, its code (conflict by default)
//	already exists, a lost race → 409 conflict
//	domain.ErrPreconditionFailed → 412 precondition_failed
//	realms.ErrUnavailable   → 503 temporarily_unavailable, Retry-After: 1
//	*echo.HTTPError             → its status (unknown route, wrong method, body limit)
//	anything else               → logged once with the request id; 503 without details
//
// A console page answers with the same status and description as an HTML
// page. Every error answer carries Cache-Control: no-store.
func answerError(c echo.Context, log *slog.Logger, err error) {
	var pe *pageError
	if errors.As(err, &pe) {
		if pe.retryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.FormatInt(pe.retryAfter, 10))
		}
		_ = render(c, pe.status, "message.html", page{Title: "Cannot continue", Realm: pe.realm, Message: pe.message, Error: pe.message})
		return
	}
	status, body := errorAnswer(c, log, err)
	if isConsole(c) {
		renderConsoleError(c, status, body)
		return
	}
	writeJSONError(c, status, body)
}

// errorAnswer is the status and body of an error (see answerError), and
// sets the headers that go with them.
func errorAnswer(c echo.Context, log *slog.Logger, err error) (int, apiError) {
	var (
		bearer *bearerError
		oauth  *domain.OAuthError
		status *statusError
		verr   *domain.ValidationError
		nf     *domain.NotFoundError
		cerr   *domain.ConflictError
		limit  *domain.LimitError
		he     *echo.HTTPError
	)
	h := c.Response().Header()
	switch {
	case errors.As(err, &bearer):
		scheme := "Bearer"
		if bearer.dpop {
			scheme = "DPoP"
		}
		challenge := scheme + ` realm="` + bearer.realm + `"`
		if bearer.dpop {
			challenge += `, algs="` + strings.Join(domain.DPoPAlgs, " ") + `"`
		}
		code := bearer.code
		if code != "" {
			challenge += `, error="` + code + `", error_description="` + errorText(bearer.desc) + `"`
		} else {
			code = domain.ErrInvalidToken
		}
		if code == domain.ErrInsufficientScope {
			challenge += `, scope="` + bearer.scope + `"`
		}
		h.Set(echo.HeaderWWWAuthenticate, challenge)
		if bearer.code == "" {
			h.Add(echo.HeaderWWWAuthenticate, `DPoP realm="`+bearer.realm+`", algs="`+strings.Join(domain.DPoPAlgs, " ")+`"`)
		}
		return bearer.status, apiError{Error: code, Description: bearer.desc}
	case errors.As(err, &oauth):
		st := http.StatusBadRequest
		if oauth.Code == domain.ErrInvalidClient {
			// Every 401 carries a challenge (RFC 9110 §11.6.1), whether or
			// not the client tried Basic (RFC 6749 §5.2 requires it only
			// then).
			st = http.StatusUnauthorized
			h.Set(echo.HeaderWWWAuthenticate, `Basic realm="`+errorText(c.Param("realm"))+`"`)
		}
		if oauth.Code == domain.ErrInvalidToken {
			st = http.StatusUnauthorized
			h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="`+errorText(c.Param("realm"))+`", error="invalid_token"`)
		}
		return st, apiError{Error: oauth.Code, Description: errorText(oauth.Description)}
	case errors.As(err, &status):
		if status.retryAfterS != "" {
			h.Set("Retry-After", status.retryAfterS)
		}
		return status.status, apiError{Error: status.code, Description: status.desc}
	case errors.As(err, &limit):
		st, code := http.StatusTooManyRequests, limit.Code
		if limit.Busy {
			st = http.StatusServiceUnavailable
		}
		if code == "" {
			code = errServer
		}
		h.Set("Retry-After", strconv.FormatInt(limit.RetryAfter, 10))
		return st, apiError{Error: code, Description: errorText(limit.Message)}
	case errors.As(err, &verr):
		return http.StatusBadRequest, apiError{Error: domain.ErrInvalidRequest, Description: verr.Message, Details: verr.Details}
	case errors.As(err, &nf):
		return http.StatusNotFound, apiError{Error: errNotFound, Description: errorText(nf.Message), MissingIDs: nf.Missing}
	case errors.Is(err, domain.ErrNotFound):
		return http.StatusNotFound, apiError{Error: errNotFound, Description: "not found"}
	case errors.As(err, &cerr):
		code := cerr.Code
		if code == "" {
			code = errConflict
		}
		return http.StatusConflict, apiError{Error: code, Description: cerr.Message}
	case errors.Is(err, domain.ErrAlreadyExists):
		return http.StatusConflict, apiError{Error: errConflict, Description: "already exists"}
	case errors.Is(err, realms.ErrConflict):
		return http.StatusConflict, apiError{Error: errConflict, Description: "changed concurrently; reload and retry"}
	case errors.Is(err, domain.ErrPreconditionFailed):
		return http.StatusPreconditionFailed, apiError{Error: errPrecondition, Description: err.Error()}
	case errors.Is(err, realms.ErrUnavailable):
		h.Set("Retry-After", "1")
		return http.StatusServiceUnavailable, apiError{Error: errServer, Description: "the event store cannot take writes right now; retry"}
	case errors.As(err, &he):
		return httpErrorAnswer(c, log, he)
	default:
		log.Error("request failed", "request_id", requestID(c), "err", err)
		return http.StatusServiceUnavailable, apiError{Error: errServer, Description: "the server could not complete the request; retry later"}
	}
}

// httpErrorAnswer renders echo's own errors (unknown route, wrong method,
// body limits) in the same shape, and never leaks internals.
func httpErrorAnswer(c echo.Context, log *slog.Logger, he *echo.HTTPError) (int, apiError) {
	code, desc := errServer, http.StatusText(he.Code)
	switch he.Code {
	case http.StatusNotFound:
		code = errNotFound
	case http.StatusMethodNotAllowed:
		code = errMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		code = errTooLarge
	case http.StatusUnsupportedMediaType:
		code = errUnsupportedMedia
	default:
		if he.Code < 500 {
			code = domain.ErrInvalidRequest
		} else {
			log.Error("request failed", "request_id", requestID(c), "err", he)
		}
	}
	return he.Code, apiError{Error: code, Description: desc}
}

func writeJSONError(c echo.Context, status int, body apiError) {
	noStore(c)
	_ = c.JSON(status, body)
}

// httpErrorHandler is echo's error handler: every error a handler or a
// middleware returns goes through answerError.
func httpErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		answerError(c, log, err)
	}
}

// noStore marks a response that carries or derives from credentials.
func noStore(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// errorText keeps an error_description to the characters RFC 6749 §4.1.2.1
// and §5.2 and RFC 6750 §3 allow (%x20-21 / %x23-5B / %x5D-7E): no quote,
// backslash, control or non-ASCII character, which a parameter name or a
// realm name taken from the request could otherwise carry into a redirect
// or smuggle into a header as extra parameters. Others become '?'.
func errorText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}
