package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// apiError is every error body: RFC 6749 §5.2 shape, used by the admin API
// too so scripts parse one format.
type apiError struct {
	Error       string   `json:"error"`
	Description string   `json:"error_description,omitempty"`
	Details     []string `json:"details,omitempty"`
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

func writeError(c echo.Context, status int, code, desc string) error {
	noStore(c)
	return c.JSON(status, apiError{Error: code, Description: desc})
}

// noStore marks a response that carries or derives from credentials.
func noStore(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// domainError answers a failed command: validation → 400, missing → 404,
// exists or stale → 409, a stale If-Match → 412; anything else is logged and
// answered 503 without its details.
func domainError(c echo.Context, log *slog.Logger, err error) error {
	var verr *domain.ValidationError
	var cerr *domain.ConflictError
	var nf *domain.NotFoundError
	switch {
	case errors.As(err, &verr):
		noStore(c)
		return c.JSON(http.StatusBadRequest, apiError{Error: domain.ErrInvalidRequest, Description: verr.Message, Details: verr.Details})
	case errors.As(err, &cerr):
		code := cerr.Code
		if code == "" {
			code = errConflict
		}
		return writeError(c, http.StatusConflict, code, cerr.Message)
	case errors.As(err, &nf):
		return writeError(c, http.StatusNotFound, errNotFound, errorText(nf.Error()))
	case errors.Is(err, domain.ErrNotFound):
		return writeError(c, http.StatusNotFound, errNotFound, "not found")
	case errors.Is(err, domain.ErrPreconditionFailed):
		return writeError(c, http.StatusPreconditionFailed, errPrecondition, err.Error())
	case errors.Is(err, domain.ErrAlreadyExists):
		return writeError(c, http.StatusConflict, errConflict, "already exists")
	case errors.Is(err, eventstore.ErrConflict):
		return writeError(c, http.StatusConflict, errConflict, "changed concurrently; reload and retry")
	case errors.Is(err, eventstore.ErrUnavailable):
		c.Response().Header().Set("Retry-After", "1")
		return writeError(c, http.StatusServiceUnavailable, errServer, "the event store cannot take writes right now; retry")
	}
	log.Error("request failed", "request_id", requestID(c), "err", err)
	return writeError(c, http.StatusServiceUnavailable, errServer, "the server could not complete the request; retry later")
}

// httpErrorHandler renders echo's own errors (unknown route, wrong method,
// body limits) in the same JSON shape, and never leaks internals.
func httpErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var he *echo.HTTPError
		if !errors.As(err, &he) {
			_ = domainError(c, log, err)
			return
		}
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
				log.Error("request failed", "request_id", requestID(c), "err", err)
			}
		}
		_ = writeError(c, he.Code, code, desc)
	}
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
