package main

import (
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpLimits bound what one client can hold of the HTTP server.
type httpLimits struct {
	// readTimeout bounds reading a whole request, body included.
	readTimeout time.Duration
	// writeTimeout bounds a request from the end of its headers to the end
	// of its response. The audit event stream keeps deadlines of its own.
	writeTimeout time.Duration
	// idleTimeout closes a keep-alive connection between requests.
	idleTimeout time.Duration
	// maxConnsPerIP caps the open connections of one client IP (of one /64
	// for IPv6); 0: no cap.
	maxConnsPerIP int
}

// headerTimeout bounds reading a request's headers: a client has no
// reason to be slower than this.
const headerTimeout = 10 * time.Second

func httpFlags(fs *flag.FlagSet, l *httpLimits, envErrs map[string]error) {
	read := envDuration(envErrs, "http-read-timeout", "LATCHKEY_HTTP_READ_TIMEOUT", 30*time.Second)
	write := envDuration(envErrs, "http-write-timeout", "LATCHKEY_HTTP_WRITE_TIMEOUT", 60*time.Second)
	idle := envDuration(envErrs, "http-idle-timeout", "LATCHKEY_HTTP_IDLE_TIMEOUT", 120*time.Second)
	conns := envInt(envErrs, "http-max-conns-per-ip", "LATCHKEY_HTTP_MAX_CONNS_PER_IP", 256)
	fs.DurationVar(&l.readTimeout, "http-read-timeout", read, "longest time to read a whole request, body included (LATCHKEY_HTTP_READ_TIMEOUT)")
	fs.DurationVar(&l.writeTimeout, "http-write-timeout", write, "longest time from a request's headers to the end of its response; the audit event stream is exempt (LATCHKEY_HTTP_WRITE_TIMEOUT)")
	fs.DurationVar(&l.idleTimeout, "http-idle-timeout", idle, "a keep-alive connection idle this long is closed (LATCHKEY_HTTP_IDLE_TIMEOUT)")
	fs.IntVar(&l.maxConnsPerIP, "http-max-conns-per-ip", conns, "open connections one client IP (IPv6: one /64) may hold; more are closed at once; 0: no limit (LATCHKEY_HTTP_MAX_CONNS_PER_IP)")
}

func (l httpLimits) check() error {
	if l.readTimeout <= 0 || l.writeTimeout <= 0 || l.idleTimeout <= 0 {
		return errors.New("--http-read-timeout, --http-write-timeout and --http-idle-timeout must be positive")
	}
	if l.maxConnsPerIP < 0 {
		return errors.New("--http-max-conns-per-ip must be 0 (no limit) or more")
	}
	return nil
}

// newHTTPServer is the server with every timeout set.
func newHTTPServer(h http.Handler, l httpLimits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(headerTimeout, l.readTimeout),
		ReadTimeout:       l.readTimeout,
		WriteTimeout:      l.writeTimeout,
		IdleTimeout:       l.idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// limitListener applies maxConnsPerIP, counting refusals in reg.
func (l httpLimits) limitListener(ln net.Listener, reg prometheus.Registerer) net.Listener {
	if l.maxConnsPerIP == 0 {
		return ln
	}
	refused := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "latchkey_http_connections_refused_total",
		Help: "HTTP connections closed at once because their client IP already held --http-max-conns-per-ip.",
	})
	reg.MustRegister(refused)
	return limitPerIP(ln, l.maxConnsPerIP, refused.Inc)
}
