package main

import (
	"context"
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

// bench runs `latchkey bench token`: a closed-loop load on the token
// endpoint from N concurrent clients, each with one keep-alive connection.
func bench(args []string) error {
	if len(args) == 0 || args[0] != "token" {
		return errors.New("usage: latchkey bench token --url URL --realm REALM --client ID --secret SECRET [--concurrency 64] [--duration 10s]")
	}
	fs := flag.NewFlagSet("bench token", flag.ContinueOnError)
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
	res, err := runTokenLoad(tokenLoad{
		endpoint:    strings.TrimRight(*base, "/") + "/realms/" + *realm + "/protocol/openid-connect/token",
		client:      *client,
		secret:      *secret,
		scope:       *scope,
		concurrency: *concurrency,
		duration:    *duration,
	})
	if err != nil {
		return err
	}
	fmt.Println(res)
	return nil
}

type tokenLoad struct {
	endpoint, client, secret, scope string
	concurrency                     int
	duration                        time.Duration
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
	q := func(p float64) time.Duration { return r.latencies[int(p*float64(len(r.latencies)-1))] }
	s := fmt.Sprintf("tokens: %d ok, %d failed in %s\nthroughput: %.0f tokens/s\nlatency: p50 %s  p90 %s  p99 %s  max %s",
		r.ok, r.failed, r.elapsed.Round(time.Millisecond), float64(r.ok)/r.elapsed.Seconds(),
		q(.50).Round(time.Microsecond), q(.90).Round(time.Microsecond), q(.99).Round(time.Microsecond), r.latencies[len(r.latencies)-1].Round(time.Microsecond))
	if r.failed > 0 {
		s += "\nfirst error: " + r.firstError
	}
	return s
}

func runTokenLoad(l tokenLoad) (loadResult, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if l.scope != "" {
		form.Set("scope", l.scope)
	}
	body := form.Encode()
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
				err := requestToken(httpc, l, body)
				if err != nil {
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
			total.ok += mine.ok
			total.failed += mine.failed
			total.latencies = append(total.latencies, mine.latencies...)
			if total.firstError == "" {
				total.firstError = mine.firstError
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total, nil
}

func requestToken(httpc *http.Client, l tokenLoad, body string) error {
	req, err := http.NewRequest(http.MethodPost, l.endpoint, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(l.client), url.QueryEscape(l.secret))
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
