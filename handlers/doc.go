// Package handlers is Latchkey's HTTP surface on echo: the per-realm OAuth
// and OpenID Connect endpoints, the admin API, health and metrics. Handlers
// stay thin: parse, authenticate, ask the domain, append, answer.
package handlers
