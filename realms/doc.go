// Package realms is Latchkey's application layer: the registry of realms
// and, per realm, every command and query the HTTP side needs.
//
// Read this first:
//
//   - A command (anything that writes) is a method of a capability group —
//     rl.Clients(), rl.Users(), rl.Structure(), rl.Sessions(), rl.Grants(),
//     rl.Tokens(), rl.Keys(), rl.Console(), rl.Access(user) — that runs a command through execute
//     (command.go): decide reads the read models and asks domain, which
//     returns the events per aggregate with the version each expects (a
//     plan, with any revocation rules); the plan is appended at once (an
//     atomic batch when it spans aggregates); a lost race is decided again
//     on fresh state under the one retry policy, unless the command declares
//     it final; a refusal on the state read is decided once more after a
//     catch-up (fresh.go); execute returns once this process's read models
//     have applied the write. The caller then reads the new state. Token
//     issuance runs through it too: its plan requires the client (user,
//     grant) at the versions read, a lone token event is group-committed,
//     acknowledged before the token leaves, never waiting for the models.
//   - A query is a named method of the same groups (Clients().Get,
//     Users().Page, Structure().Nodes, Tokens().Introspect, …); the read
//     models themselves are not exported.
//   - Errors are plain error values of typed kinds: domain's
//     (ValidationError, NotFoundError/ErrNotFound, ErrAlreadyExists,
//     ConflictError, ErrPreconditionFailed, OAuthError) and eventstore's
//     (ErrConflict, ErrUnavailable). handlers maps them to HTTP in one
//     place; nothing here knows about status codes.
//
// Also here: realm creation and discovery across replicas (registry.go),
// signing keys sealed in the key store, checkpoints and their
// verification, snapshots, the first-start bootstrap, the console's
// sessions (sealed in their bucket) and the server-made CSRF values.
package realms
