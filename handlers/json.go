package handlers

import (
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/labstack/echo/v4"
)

// maxJSONBody bounds admin API bodies: 1 MiB.
const maxJSONBody = "1MiB"

// bindJSON decodes an application/json body strictly into v: wrong content
// type → 415; bad JSON, trailing data, an unknown member, a member named
// twice or not in its exact case → 400.
func bindJSON(c echo.Context, v any) error {
	return bindJSONAs(c, v, echo.MIMEApplicationJSON)
}

// bindJSONAs is bindJSON accepting any of the given media types.
func bindJSONAs(c echo.Context, v any, mediaTypes ...string) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || !slices.Contains(mediaTypes, mt) {
		return &statusError{status: http.StatusUnsupportedMediaType, code: errUnsupportedMedia, desc: "Content-Type must be " + strings.Join(mediaTypes, " or ")}
	}
	if err := jsonv2.UnmarshalRead(c.Request().Body, v, strictJSON); err != nil {
		if bodyTooLarge(err) {
			return &statusError{status: http.StatusRequestEntityTooLarge, code: errTooLarge, desc: "request body exceeds 1 MiB"}
		}
		return badRequest("malformed JSON body: " + err.Error())
	}
	return nil
}

// strictJSON decodes admin bodies so that every reader of a body sees the
// same thing: JSON v2's exact-case names, no duplicate names and valid
// UTF-8 only (with encoding/json, {"scopes":["read"],"Scopes":["management"]}
// granted management to a body a proxy would read as read-only), and no
// unknown members.
var strictJSON = jsonv2.RejectUnknownMembers(true)

// decodeStrict is strictJSON for a body already read.
func decodeStrict(data []byte, v any) error { return jsonv2.Unmarshal(data, v, strictJSON) }

// bodyTooLarge tells the body limit's errors: http.MaxBytesReader's, or
// echo's BodyLimit middleware's 413 (a chunked body read past the limit).
func bodyTooLarge(err error) bool {
	var tooLarge *http.MaxBytesError
	var he *echo.HTTPError
	return errors.As(err, &tooLarge) || errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge
}
