package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// routingConfig is how requests find realms besides /realms/<realm>:
// hosts the configuration claims for realms, and the realm that serves
// paths without one on the public URL's host.
type routingConfig struct {
	defaultRealm string
	hosts        realmHosts
}

// realmHosts collects --realm-host realm=host[,host…] flags.
type realmHosts map[string][]string

func (h realmHosts) String() string {
	var parts []string
	for realm, hosts := range h {
		parts = append(parts, realm+"="+strings.Join(hosts, ","))
	}
	return strings.Join(parts, " ")
}

func (h realmHosts) Set(v string) error {
	realm, hosts, ok := strings.Cut(v, "=")
	if !ok || realm == "" || hosts == "" {
		return fmt.Errorf("%q: want realm=host", v)
	}
	for host := range strings.SplitSeq(hosts, ",") {
		h[realm] = append(h[realm], host)
	}
	return nil
}

func routingFlags(fs *flag.FlagSet, cfg *routingConfig) {
	fs.StringVar(&cfg.defaultRealm, "default-realm", envOr("LATCHKEY_DEFAULT_REALM", ""),
		"realm serving paths without /realms/<realm> on the public URL's host (LATCHKEY_DEFAULT_REALM)")
	cfg.hosts = realmHosts{}
	fs.Var(cfg.hosts, "realm-host", "realm=host[,host]: the realm claims the host; its first host is its issuer; repeatable (LATCHKEY_REALM_HOSTS, space-separated)")
}

// check reads LATCHKEY_REALM_HOSTS when no flag gave hosts, and checks
// both settings against the public URL.
func (cfg *routingConfig) check(publicURL string) error {
	if len(cfg.hosts) == 0 {
		for pair := range strings.FieldsSeq(envOr("LATCHKEY_REALM_HOSTS", "")) {
			if err := cfg.hosts.Set(pair); err != nil {
				return fmt.Errorf("LATCHKEY_REALM_HOSTS: %w", err)
			}
		}
	}
	if cfg.defaultRealm != "" && !domain.IsValidName(cfg.defaultRealm) {
		return fmt.Errorf("--default-realm %q is not a realm name", cfg.defaultRealm)
	}
	return realms.CheckHostClaims(publicURL, cfg.hosts)
}
