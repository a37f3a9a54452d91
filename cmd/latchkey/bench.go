package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

const benchUsage = `usage: latchkey bench token|introspect --url URL --realm REALM --client ID --secret SECRET [--concurrency 64] [--duration 10s]

  token       POST the token endpoint (client_credentials) as fast as it answers
  introspect  get one token, then POST it to the introspection endpoint`

// bench runs a closed-loop load on one endpoint from N concurrent clients,
// each with its own keep-alive connection, and prints throughput and latency.
func bench(args []string) error {
	if len(args) == 0 || (args[0] != "token" && args[0] != "introspect") {
		return errors.New(benchUsage)
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
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *client == "" || *secret == "" {
		return errors.New("--client and --secret are required")
	}
	endpoints := strings.TrimRight(*base, "/") + "/realms/" + *realm + "/protocol/openid-connect/"
	tokenForm := url.Values{"grant_type": {"client_credentials"}}
	if *scope != "" {
		tokenForm.Set("scope", *scope)
	}
	l := load{endpoint: endpoints + "token", body: tokenForm.Encode(), client: *client, secret: *secret,
		concurrency: *concurrency, duration: *duration}
	if mode == "introspect" {
		httpc := &http.Client{Timeout: 10 * time.Second}
		token, err := fetchToken(httpc, l)
		if err != nil {
			return err
		}
		l.endpoint, l.body = endpoints+"token/introspect", url.Values{"token": {token}}.Encode()
	}
	fmt.Println(runLoad(l))
	return nil
}

// load is one closed-loop run: every worker POSTs body to endpoint with
// the client's Basic credentials.
type load struct {
	endpoint, body, client, secret string
	concurrency                    int
	duration                       time.Duration
}

type loadResult struct {
	ok, failed int
	elapsed    time.Duration
	latencies  []time.Duration
	firstError string
}

func (r loadResult) String() string {
	if len(r.latencies) == 0 {
		return fmt.Sprintf("no successful requests (%d failed: %s)", r.failed, r.firstError)
	}
	slices.Sort(r.latencies)
	q := func(p float64) time.Duration {
		return r.latencies[int(p*float64(len(r.latencies)-1))].Round(time.Microsecond)
	}
	s := fmt.Sprintf("requests: %d ok, %d failed in %s\nthroughput: %.0f requests/s\nlatency: p50 %s  p90 %s  p99 %s  max %s",
		r.ok, r.failed, r.elapsed.Round(time.Millisecond), float64(r.ok)/r.elapsed.Seconds(),
		q(.50), q(.90), q(.99), q(1))
	if r.failed > 0 {
		s += "\nfirst error: " + r.firstError
	}
	return s
}

func runLoad(l load) loadResult {
	transport := &http.Transport{MaxIdleConns: l.concurrency, MaxIdleConnsPerHost: l.concurrency}
	httpc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	defer transport.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), l.duration)
	defer cancel()
	var mu sync.Mutex
	var total loadResult
	var wg sync.WaitGroup
	start := time.Now()
	for range l.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine loadResult
			for ctx.Err() == nil {
				t0 := time.Now()
				if _, err := post(httpc, l); err != nil {
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
			mu.Lock()
			defer mu.Unlock()
			total.ok += mine.ok
			total.failed += mine.failed
			total.latencies = append(total.latencies, mine.latencies...)
			if total.firstError == "" {
				total.firstError = mine.firstError
			}
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total
}

// post sends one request and returns the body of a 200 answer.
func post(httpc *http.Client, l load) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, l.endpoint, strings.NewReader(l.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(l.client), url.QueryEscape(l.secret))
	resp, err := httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

func fetchToken(httpc *http.Client, l load) (string, error) {
	body, err := post(httpc, l)
	if err != nil {
		return "", fmt.Errorf("getting a token to introspect: %w", err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("getting a token to introspect: %s", body)
	}
	return tr.AccessToken, nil
}
