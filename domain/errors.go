package domain

import "errors"

// ValidationError is a command rejected for its input; nothing was decided.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

// ErrNotFound says the aggregate a command targets does not exist.
var ErrNotFound = errors.New("not found")

// ErrAlreadyExists says a create command targets an aggregate that exists.
var ErrAlreadyExists = errors.New("already exists")
