package realms

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
)

// Realms claim host names: from the server's configuration (UseHosts) or
// their own settings (RealmSettings.Hosts, written through the admin
// API). A request to a claimed host reaches its realm without
// /realms/<realm> in the path, and such a realm has one issuer: the URL of
// its first host (configured hosts first), with the public URL's scheme.
// A Host header no realm claims is never used to build an issuer.

// hostDiscoveryInterval bounds how often a request naming a host no known
// realm claims makes this process look for realms created elsewhere.
const hostDiscoveryInterval = 10 * time.Second

// hostRouting is the registry's part of host routing.
type hostRouting struct {
	primary string              // host (and port) of the public URL
	scheme  string              // of the public URL: the scheme of host issuers
	config  map[string][]string // realm → hosts, from the configuration; read-only once serving
	claimMu sync.Mutex          // claims in this process, one at a time
	lastNs  atomic.Int64        // last discovery of other replicas' realms
	// index caches claimants for a moment: routing reads it per request.
	index atomic.Pointer[hostIndex]
}

// hostIndex is every claimed host's claimants, as of a time.
type hostIndex struct {
	at     time.Time
	byHost map[string][]string
}

// hostIndexTTL bounds how long a claim another replica made, or let go,
// takes to route here; this process's own claims route at once.
const hostIndexTTL = time.Second

func (h *hostRouting) init(publicURL string) {
	h.scheme, h.config = "https", map[string][]string{}
	if u, err := url.Parse(publicURL); err == nil {
		h.primary = domain.NormalizeHost(u.Host)
		if u.Scheme == "http" {
			h.scheme = "http"
		}
	}
}

// UseHosts gives realms the hosts the server's configuration claims for
// them (realm → hosts). It is called once, before serving; claims that
// CheckHostClaims refuses are an error.
func (r *Registry) UseHosts(byRealm map[string][]string) error {
	if err := CheckHostClaims(r.publicURL, byRealm); err != nil {
		return err
	}
	for realm, hosts := range byRealm {
		for _, h := range hosts {
			if h = domain.NormalizeHost(h); !slices.Contains(r.hosts.config[realm], h) {
				r.hosts.config[realm] = append(r.hosts.config[realm], h)
			}
		}
	}
	return nil
}

// CheckHostClaims checks the hosts a configuration claims for realms: each
// a host name, none the public URL's own host, none claimed for two realms.
func CheckHostClaims(publicURL string, byRealm map[string][]string) error {
	var h hostRouting
	h.init(publicURL)
	owner := map[string]string{}
	for _, realm := range slices.Sorted(maps.Keys(byRealm)) {
		if !domain.IsValidName(realm) {
			return fmt.Errorf("realm host: %q is not a realm name", realm)
		}
		for _, host := range byRealm[realm] {
			host = domain.NormalizeHost(host)
			switch {
			case !domain.IsValidHost(host):
				return fmt.Errorf("realm host: %q is not a host name (DNS labels, an optional :port)", host)
			case host == h.primary:
				return fmt.Errorf("realm host: %s is the public URL's host, which serves every realm", host)
			case owner[host] != "" && owner[host] != realm:
				return fmt.Errorf("realm host: %s is claimed for realms %s and %s", host, owner[host], realm)
			}
			owner[host] = realm
		}
	}
	return nil
}

// PrimaryHost is the public URL's host: it serves every realm by path and
// the default realm without one.
func (r *Registry) PrimaryHost() string { return r.hosts.primary }

// Hosts are the host names the realm claims: the configuration's, then its
// settings'.
func (rl *Realm) Hosts() []string {
	out := slices.Clone(rl.reg.hosts.config[rl.Name])
	for _, h := range rl.state().Settings.Hosts {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// Issuer is the realm's one issuer: the URL of its first claimed host, or
// else <public-url>/realms/<realm>. Tokens, discovery, introspection and
// the authorization responses all name it.
func (rl *Realm) Issuer() string {
	if hosts := rl.reg.hosts.config[rl.Name]; len(hosts) > 0 {
		return rl.reg.hosts.scheme + "://" + hosts[0]
	}
	if hosts := rl.state().Settings.Hosts; len(hosts) > 0 {
		return rl.reg.hosts.scheme + "://" + hosts[0]
	}
	return rl.pathIssuer
}

// claimants maps every host claimed by a realm this process knows to the
// realms claiming it (one, unless replicas raced), cached for
// hostIndexTTL.
func (r *Registry) claimants() map[string][]string {
	if idx := r.hosts.index.Load(); idx != nil && time.Since(idx.at) < hostIndexTTL {
		return idx.byHost
	}
	out := r.indexHosts()
	r.hosts.index.Store(&hostIndex{at: time.Now(), byHost: out})
	return out
}

// forgetHostIndex makes the next lookup read the claims afresh.
func (r *Registry) forgetHostIndex() { r.hosts.index.Store(nil) }

func (r *Registry) indexHosts() map[string][]string {
	out := map[string][]string{}
	add := func(realm string, hosts []string) {
		for _, h := range hosts {
			if !slices.Contains(out[h], realm) {
				out[h] = append(out[h], realm)
			}
		}
	}
	for realm, hosts := range r.hosts.config {
		add(realm, hosts)
	}
	for _, rl := range r.List() {
		add(rl.Name, rl.state().Settings.Hosts)
	}
	return out
}

// RealmOfHost names the realm that claims host (a request's Host header).
// An unclaimed host, the public URL's own, or one two realms claim (two
// replicas accepting claims at the same moment) is no realm's: it fails
// closed. A host no known realm claims makes the process look, at most
// every hostDiscoveryInterval, for realms other replicas created.
func (r *Registry) RealmOfHost(ctx context.Context, host string) (string, bool) {
	host = domain.NormalizeHost(host)
	if host == "" || host == r.hosts.primary || !domain.IsValidHost(host) {
		return "", false
	}
	realms := r.claimants()[host]
	if len(realms) == 0 && r.discoverDue() {
		r.discover(ctx)
		r.forgetHostIndex()
		realms = r.claimants()[host]
	}
	if len(realms) != 1 {
		if len(realms) > 1 {
			sort.Strings(realms)
			r.log.Warn("a host is claimed by several realms; it routes to none until one lets it go", "host", host, "realms", strings.Join(realms, ","))
		}
		return "", false
	}
	return realms[0], true
}

// discoverDue reports whether a discovery may run now, and marks it.
func (r *Registry) discoverDue() bool {
	now, last := time.Now().UnixNano(), r.hosts.lastNs.Load()
	return now-last >= int64(hostDiscoveryInterval) && r.hosts.lastNs.CompareAndSwap(last, now)
}

// discover opens every realm that has a stream and is not open here yet.
func (r *Registry) discover(ctx context.Context) {
	names, err := r.store.Realms(ctx)
	if err != nil {
		r.log.Warn("listing realms failed", "err", err)
		return
	}
	for _, name := range names {
		if _, err := r.Get(ctx, name); err != nil && !errors.Is(err, domain.ErrNotFound) {
			r.log.Warn("opening a realm failed", "realm", name, "err", err)
		}
	}
}

// realmContext is what a settings decision of realm must know of the
// others: the hosts they claim. A realm claiming a new host first opens
// every realm of the cluster, so that one created on another replica is
// counted.
func (r *Registry) realmContext(ctx context.Context, realm string, claiming bool) domain.RealmContext {
	rc := domain.RealmContext{HostsClaimed: map[string]string{}, PrimaryHost: r.hosts.primary}
	if claiming {
		r.discover(ctx)
	}
	for h, realms := range r.indexHosts() {
		for _, other := range realms {
			if other != realm {
				rc.HostsClaimed[h] = other
			}
		}
	}
	return rc
}

// realmOfIssuer names the realm whose issuer is iss: <public-url>/realms/
// <realm>, or the URL of a claimed host.
func (r *Registry) realmOfIssuer(iss string) (string, bool) {
	if name, ok := strings.CutPrefix(iss, r.publicURL+"/realms/"); ok {
		return name, domain.IsValidName(name)
	}
	host, ok := strings.CutPrefix(iss, r.hosts.scheme+"://")
	if !ok || strings.ContainsAny(host, "/?#@") {
		return "", false
	}
	realms := r.claimants()[domain.NormalizeHost(host)]
	if len(realms) != 1 {
		return "", false
	}
	return realms[0], true
}
