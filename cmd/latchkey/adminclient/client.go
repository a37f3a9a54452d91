// Package adminclient speaks Latchkey's admin API (described at
// /admin/openapi.json) for the command line: it sends JSON with a bearer
// token, gets a new token once when the server refuses one, and turns an
// error answer into an error a person can read.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// TokenSource gives the bearer token of admin requests.
type TokenSource interface {
	// Token returns an access token with scope management; fresh asks for
	// a new one because the server refused the last.
	Token(ctx context.Context, fresh bool) (string, error)
}

// Client calls one server's admin API.
type Client struct {
	BaseURL string // e.g. https://id.example.com, no final '/'
	HTTP    *http.Client
	Tokens  TokenSource
}

// Request is one admin API call.
type Request struct {
	Method string
	Path   string // from /admin/..., with its query string
	Body   any    // encoded as JSON; nil sends no body
	Header http.Header
}

// Response is a successful answer, its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body.
func (r *Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("the server's answer is not the JSON expected: %w", err)
	}
	return nil
}

// APIError is an error answer of the admin API: nothing was changed.
type APIError struct {
	Status      int
	Code        string   `json:"error"`
	Description string   `json:"error_description"`
	Details     []string `json:"details"`
	MissingIDs  []string `json:"missing_ids"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(e.Description, "."))
	if b.Len() == 0 {
		b.WriteString(e.Code)
	}
	fmt.Fprintf(&b, " (HTTP %d %s)", e.Status, http.StatusText(e.Status))
	for _, d := range e.Details {
		if d != e.Description {
			b.WriteString("\n  - " + d)
		}
	}
	if len(e.MissingIDs) > 0 {
		b.WriteString("\n  no such client: " + strings.Join(e.MissingIDs, ", "))
	}
	return b.String()
}

// AuthError says the server refused the stored login: the token, or the
// credentials that get one. Logging in again is the way out.
type AuthError struct {
	Status      int
	Code        string
	Description string
}

func (e *AuthError) Error() string {
	s := fmt.Sprintf("the server refused the stored login (HTTP %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s + ")"
}

// TokenError turns a failed token request into an AuthError when the
// server refused the credentials, and leaves other failures as they are.
func TokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		return &AuthError{Status: re.Response.StatusCode, Code: re.ErrorCode, Description: re.ErrorDescription}
	}
	return err
}

// Do sends the request and reads a successful answer whole. A 401 gets one
// retry with a fresh token; a second 401 is an AuthError.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	resp, err := c.Open(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", r.Method, r.Path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// Open sends the request and returns a successful answer unread, for
// streams (JSON lines, Server-Sent Events). The caller closes its body.
func (c *Client) Open(ctx context.Context, r Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = json.Marshal(r.Body); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		token, err := c.Tokens.Token(ctx, attempt > 0)
		if err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, r, body, token)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		apiErr := readError(resp)
		if resp.StatusCode == http.StatusUnauthorized {
			if attempt == 0 {
				continue // expired or revoked: one more try with a new token
			}
			return nil, &AuthError{Status: apiErr.Status, Code: apiErr.Code, Description: apiErr.Description}
		}
		return nil, apiErr
	}
}

func (c *Client) send(ctx context.Context, r Request, body []byte, token string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.BaseURL+r.Path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.BaseURL, err)
	}
	return resp, nil
}

// readError reads an error answer; one that is not the API's JSON shape
// (a proxy's page) keeps its status.
func readError(resp *http.Response) *APIError {
	defer resp.Body.Close()
	e := &APIError{}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(raw, e) != nil || e.Code == "" {
		e = &APIError{Code: "unexpected_answer", Description: "the server answered " + http.StatusText(resp.StatusCode)}
	}
	e.Status = resp.StatusCode
	return e
}
