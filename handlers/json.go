package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// maxJSONBody bounds admin API bodies.
const maxJSONBody = "1M"

// bindJSON decodes an application/json body strictly into v: wrong content
// type → 415; unknown fields, trailing data or bad JSON → 400. It returns a
// response already written when the body is refused.
func bindJSON(c echo.Context, v any) (bool, error) {
	return bindJSONAs(c, v, echo.MIMEApplicationJSON)
}

// bindJSONAs is bindJSON accepting any of the given media types.
func bindJSONAs(c echo.Context, v any, mediaTypes ...string) (bool, error) {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || !slices.Contains(mediaTypes, mt) {
		return false, writeError(c, http.StatusUnsupportedMediaType, errUnsupportedMedia, "Content-Type must be "+strings.Join(mediaTypes, " or "))
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return false, writeError(c, http.StatusRequestEntityTooLarge, errTooLarge, "request body too large")
		}
		return false, writeError(c, http.StatusBadRequest, domain.ErrInvalidRequest, "malformed JSON body: "+err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return false, writeError(c, http.StatusBadRequest, domain.ErrInvalidRequest, "unexpected data after the JSON body")
	}
	return true, nil
}
