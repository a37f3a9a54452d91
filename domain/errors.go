package domain

import "errors"

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

// ErrAlreadyExists says a create command targets an aggregate that exists.
var ErrAlreadyExists = errors.New("already exists")

// ConflictError is a command refused because of the state it meets (not its
// input): answered 409 with the message.
type ConflictError struct {
	Code    string // machine-readable, e.g. confirmation_required; empty = conflict
	Message string
}

func (e *ConflictError) Error() string { return e.Message }
