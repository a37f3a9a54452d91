package handlers

import (
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_http_request_duration_seconds",
			Help:    "HTTP requests by route, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"route", "method", "code"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_tokens_issued_total",
			Help: "Access tokens issued, by realm and grant type.",
		}, []string{"realm", "grant_type"}),
	}
	reg.MustRegister(m.requests, m.tokens)
	return m
}

func (m *metrics) handler(reg *prometheus.Registry) echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// knownMethods are the methods metrics are labelled with; any other is
// "other", so that a caller cannot add series to every scrape.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodOptions: true, http.MethodConnect: true, http.MethodTrace: true,
}

func methodLabel(method string) string {
	if knownMethods[method] {
		return method
	}
	return "other"
}

// Longest method and path a log line repeats: a caller cannot make the
// logs grow with what it sends.
const (
	maxLoggedMethod = 16
	maxLoggedPath   = 512
)

// truncated cuts s to at most n bytes, on a character boundary.
func truncated(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// observe logs one line per request and records its duration. It logs the
// path without its query string and never a header or body: those may hold
// credentials.
func (a *api) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		elapsed := time.Since(start)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		method := c.Request().Method
		a.metrics.requests.WithLabelValues(route, methodLabel(method), strconv.Itoa(status)).Observe(elapsed.Seconds())
		a.log.Info("http",
			"method", truncated(method, maxLoggedMethod), "path", truncated(c.Request().URL.Path, maxLoggedPath), "status", status,
			"ms", float64(elapsed.Microseconds())/1000, "request_id", requestID(c), "ip", c.RealIP())
		return nil
	}
}

func (a *api) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only once start-up is done: stores provisioned, read
// models caught up, the bootstrap realm in place. Until then it says what
// it waits for.
func (a *api) readyz(c echo.Context) error {
	if waiting := a.waiting(); waiting != "" {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "starting", "waiting_for": waiting})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
