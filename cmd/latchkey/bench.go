package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

const benchUsage = `usage: latchkey bench token|introspect --url URL --realm REALM --client ID --secret SECRET [--concurrency 64] [--duration 10s]

  token       POST the token endpoint (client_credentials) as fast as it answers
  introspect  get one token, then POST it to the introspection endpoint`

// bench runs a closed-loop load on one endpoint from N concurrent clients,
// each with its own keep-alive connection, and prints throughput and latency.
func bench(args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Println(benchUsage)
		return nil
	}
	if len(args) == 0 || (args[0] != "token" && args[0] != "introspect") {
		return usageError(errors.New(strings.TrimPrefix(benchUsage, "usage: ")))
	}
	mode := args[0]
	fs := flag.NewFlagSet("bench "+mode, flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "Latchkey base URL")
	realm := fs.String("realm", "master", "realm")
	client := fs.String("client", "", "client id")
	secret := fs.String("secret", "", "client secret")
	concurrency := fs.Int("concurrency", 64, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	scope := fs.String("scope", "", "scope to request (default: the client's)")
	if err := parseFlags(fs, args[1:], map[string]error{}); err != nil {
		return err
	}
	if *client == "" || *secret == "" {
		return usageError(errors.New("--client and --secret are required"))
	}
	endpoints := strings.TrimRight(*base, "/") + "/realms/" + *realm + "/protocol/openid-connect/"
	tokenForm := url.Values{"grant_type": {"client_credentials"}}
	if *scope != "" {
		tokenForm.Set("scope", *scope)
	}
	l := load{endpoint: endpoints + "token", body: tokenForm.Encode(), client: *client, secret: *secret,
		concurrency: *concurrency, duration: *duration}
	if mode == "introspect" {
		token, err := fetchToken(l)
		if err != nil {
			return err
		}
		l.endpoint, l.body = endpoints+"token/introspect", url.Values{"token": {token}}.Encode()
		l.want = []byte(`"active":true`)
	}
	res, err := runLoad(l)
	if err != nil {
		return err
	}
	fmt.Println(res)
	return nil
}

// load is one closed-loop run: every worker POSTs body to endpoint with
// the client's Basic credentials.
type load struct {
	endpoint, body, client, secret string
	concurrency                    int
	duration                       time.Duration
	// want, if set, must be in every 200 answer for it to count: an
	// introspection that says active:false measured the wrong path.
	want []byte
}

type loadResult struct {
	ok, failed int
	elapsed    time.Duration
	latencies  []time.Duration
	firstError string
}

func (r loadResult) String() string {
	s := fmt.Sprintf("requests: %d ok, %d failed in %s\nthroughput: %.0f requests/s",
		r.ok, r.failed, r.elapsed.Round(time.Millisecond), float64(r.ok)/r.elapsed.Seconds())
	if len(r.latencies) > 0 {
		slices.Sort(r.latencies)
		q := func(p float64) time.Duration {
			return r.latencies[int(p*float64(len(r.latencies)-1))].Round(time.Microsecond)
		}
		s += fmt.Sprintf("\nlatency: p50 %s  p90 %s  p99 %s  max %s", q(.50), q(.90), q(.99), q(1))
	}
	if r.failed > 0 {
		s += "\nfirst error: " + r.firstError
	}
	return s
}

// requestTimeout bounds one request of the load.
const requestTimeout = 10 * time.Second

// runLoad drives the endpoint from l.concurrency workers, each waiting for
// its answer before it sends again. The client is fasthttp's: the load
// generator shares the machine with the server it measures, and every
// microsecond of CPU it spends per request is one the server cannot.
func runLoad(l load) (loadResult, error) {
	hc, err := newLoadClient(l)
	if err != nil {
		return loadResult{}, err
	}
	defer hc.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), l.duration)
	defer cancel()
	var mu sync.Mutex
	var total loadResult
	var wg sync.WaitGroup
	start := time.Now()
	for range l.concurrency {
		wg.Go(func() {
			mine := runWorker(ctx, hc, l)
			mu.Lock()
			defer mu.Unlock()
			total.ok += mine.ok
			total.failed += mine.failed
			total.latencies = append(total.latencies, mine.latencies...)
			if total.firstError == "" {
				total.firstError = mine.firstError
			}
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total, nil
}

// runWorker sends the same request over and over until ctx ends.
func runWorker(ctx context.Context, hc *fasthttp.HostClient, l load) loadResult {
	req, resp := newLoadRequest(l), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	var mine loadResult
	for ctx.Err() == nil {
		t0 := time.Now()
		if err := do(hc, req, resp, l.want); err != nil {
			if ctx.Err() != nil {
				break
			}
			mine.failed++
			if mine.firstError == "" {
				mine.firstError = err.Error()
			}
			continue
		}
		mine.ok++
		mine.latencies = append(mine.latencies, time.Since(t0))
	}
	return mine
}

// newLoadClient is a keep-alive client for the endpoint's host with one
// connection per worker.
func newLoadClient(l load) (*fasthttp.HostClient, error) {
	u, err := url.Parse(l.endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url: want http(s)://host[:port], got %q", l.endpoint)
	}
	return &fasthttp.HostClient{
		Addr:         u.Host,
		IsTLS:        u.Scheme == "https",
		MaxConns:     l.concurrency,
		ReadTimeout:  requestTimeout,
		WriteTimeout: requestTimeout,
	}, nil
}

// newLoadRequest is the form POST of l with the client's Basic
// credentials, form-encoded inside Basic as RFC 6749 §2.3.1 says.
func newLoadRequest(l load) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(l.endpoint)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/x-www-form-urlencoded")
	credentials := url.QueryEscape(l.client) + ":" + url.QueryEscape(l.secret)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(credentials)))
	req.SetBodyString(l.body)
	return req
}

// do sends req and fails unless the answer is 200 and holds want.
func do(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, want []byte) error {
	if err := hc.DoTimeout(req, resp, requestTimeout); err != nil {
		return err
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode(), bytes.TrimSpace(resp.Body()))
	}
	if want != nil && !bytes.Contains(resp.Body(), want) {
		return fmt.Errorf("HTTP 200 without %s: %s", want, bytes.TrimSpace(resp.Body()))
	}
	return nil
}

// fetchToken gets the access token that an introspection load sends.
func fetchToken(l load) (string, error) {
	hc, err := newLoadClient(l)
	if err != nil {
		return "", err
	}
	defer hc.CloseIdleConnections()
	req, resp := newLoadRequest(l), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	if err := do(hc, req, resp, nil); err != nil {
		return "", fmt.Errorf("getting a token to introspect: %w", err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(resp.Body(), &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("getting a token to introspect: %s", resp.Body())
	}
	return tr.AccessToken, nil
}
