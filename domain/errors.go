package domain

import (
	"errors"
)

// The kinds of error a command or a query returns. handlers maps each kind
// to one HTTP status in one place; OAuthError (oauth.go) is the kind of the
// OAuth protocol's errors.

// ValidationError is a command rejected for its input; nothing was decided.
type ValidationError struct {
	Field   string
	Message string
	// Details lists each problem when there are several.
	Details []string
}

func (e *ValidationError) Error() string { return e.Message }

// ErrNotFound says the aggregate a command targets does not exist.
var ErrNotFound = errors.New("not found")

// NotFoundError is ErrNotFound saying what does not exist. Missing lists
// the ids of a command on several aggregates that name nothing.
type NotFoundError struct {
	Message string
	Missing []string
}

// NotFound says that what ("client c1") does not exist.
func NotFound(what string) *NotFoundError { return &NotFoundError{Message: what + " does not exist"} }

func (e *NotFoundError) Error() string { return e.Message }

// Is makes a NotFoundError an ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ErrAlreadyExists says a create command targets an aggregate that exists.
var ErrAlreadyExists = errors.New("already exists")

// ErrPreconditionFailed says the aggregate is no longer at the version the
// caller made its write conditional on (If-Match, RFC 9110 §13.1.1).
var ErrPreconditionFailed = errors.New("the resource has changed since the version If-Match names; reload and retry")

// ConflictError is a command refused because of the state it meets (not its
// input): answered 409 with the message.
type ConflictError struct {
	Code    string // machine-readable, e.g. confirmation_required; empty = conflict
	Message string
}

func (e *ConflictError) Error() string { return e.Message }
