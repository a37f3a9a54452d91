// Package realms runs Latchkey's realms: the registry of realms with their
// read models, realm creation and its stream, issuer URLs, signing keys
// (generation, encrypted storage, rotation, JWKS), client creation and the
// first-start bootstrap of the master realm.
package realms
