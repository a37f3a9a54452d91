package main

import (
	"errors"
	"flag"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// limitFlag is a failures/window flag (10/15m, or off).
type limitFlag struct{ l *domain.Limit }

func (f limitFlag) String() string {
	if f.l == nil {
		return ""
	}
	return f.l.String()
}

func (f limitFlag) Set(s string) error {
	l, err := domain.ParseLimit(s)
	if err == nil {
		*f.l = l
	}
	return err
}

// limitFlags are the abuse limits of `serve` (realms.Limits): each is
// FAILURES/WINDOW, counted in the shared LK_LIMITS bucket.
func limitFlags(fs *flag.FlagSet, l *realms.Limits, envErrs map[string]error) {
	def := realms.DefaultLimits()
	limit := func(dst *domain.Limit, name, env string, dflt domain.Limit, usage string) {
		*dst = envValue(envErrs, name, env, dflt, domain.ParseLimit, "a limit like 10/15m, or off")
		fs.Var(limitFlag{dst}, name, usage+" (FAILURES/WINDOW, or off; "+env+")")
	}
	limit(&l.SignInUser, "limit-signin-user", "LATCHKEY_LIMIT_SIGNIN_USER", def.SignInUser,
		"failed sign-ins of one username that lock it for a window, except in the browser its user last signed in with")
	limit(&l.SignInSource, "limit-signin-source", "LATCHKEY_LIMIT_SIGNIN_SOURCE", def.SignInSource,
		"failed sign-ins from one address (IPv6: one /64) before it gets 429 for a window")
	limit(&l.SignInRealm, "limit-signin-realm", "LATCHKEY_LIMIT_SIGNIN_REALM", def.SignInRealm,
		"failed sign-ins in one realm before sign-in there gets 429 for a window, except in browsers their user signed in with")
	limit(&l.ClientAuth, "limit-client-auth", "LATCHKEY_LIMIT_CLIENT_AUTH", def.ClientAuth,
		"failed client authentications of one client id before its failures get 429 for a window (the right secret always works)")
	limit(&l.ClientSource, "limit-client-source", "LATCHKEY_LIMIT_CLIENT_SOURCE", def.ClientSource,
		"failed client authentications from one address (IPv6: one /64) before its failures get 429 for a window")
	limit(&l.Registration, "limit-registration", "LATCHKEY_LIMIT_REGISTRATION", def.Registration,
		"open client registrations (no initial access token) from one address (IPv6: one /64) before it gets 429 for a window")
	limit(&l.UserCodeSource, "limit-user-code-source", "LATCHKEY_LIMIT_USER_CODE_SOURCE", def.UserCodeSource,
		"wrong device-flow user codes typed from one address (IPv6: one /64) before its entries get 429 for a window")
	limit(&l.UserCodeRealm, "limit-user-code-realm", "LATCHKEY_LIMIT_USER_CODE_REALM", def.UserCodeRealm,
		"wrong device-flow user codes typed in one realm before every entry there gets 429 for a window")
	hashes := envInt(envErrs, "max-concurrent-hashes", "LATCHKEY_MAX_CONCURRENT_HASHES", def.Hashes)
	fs.IntVar(&l.Hashes, "max-concurrent-hashes", hashes, "argon2id password hashes computed at once (19 MiB each; default: half the CPUs); a check that finds none free within a second gets 503 with Retry-After (LATCHKEY_MAX_CONCURRENT_HASHES)")
}

func checkLimits(l realms.Limits) error {
	if l.Hashes < 1 {
		return errors.New("--max-concurrent-hashes must be at least 1")
	}
	return nil
}
