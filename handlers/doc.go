// Package handlers is Latchkey's HTTP surface on echo: the per-realm OAuth
// and OpenID Connect endpoints, the sign-in and consent pages, the admin
// API, the admin console (console*.go; who may do what is decided for the
// API and the console alike in adminauth.go), health and metrics. A handler parses the request, authenticates the
// caller, makes one call into realms (a command or a named query) and
// answers; on failure it returns the error, and answerError (errors.go) is
// the one place where an error becomes a status, a body and headers.
package handlers
