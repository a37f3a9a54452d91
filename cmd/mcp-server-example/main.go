// Command mcp-server-example is an MCP server (the official Go SDK,
// streamable HTTP) protected by a Latchkey realm: verifier.Resource serves
// its protected-resource metadata (RFC 9728), so an MCP client that meets
// its 401 finds the realm, registers (client ID metadata document or
// dynamic registration), signs the user in with resource set to this
// server, and calls its tools with a token minted for it. A token minted
// for another resource, or for none, is refused.
//
//	latchkey resource create acme --identifier http://127.0.0.1:9191/mcp --name "Example tools" --scope mcp:tools
//	latchkey nats-credentials --realm acme > acme-nats.json
//	go run ./cmd/mcp-server-example --issuer http://127.0.0.1:8080/realms/acme \
//	  --resource http://127.0.0.1:9191/mcp --nats-credentials acme-nats.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/latchkeyhq/latchkey/realms/verifier"
)

type options struct {
	issuer, resource, scope, listen string
	natsURL, credsFile              string
	creds                           verifier.Credentials
}

func main() {
	var o options
	flag.StringVar(&o.issuer, "issuer", "", "the realm's issuer URL, e.g. http://127.0.0.1:8080/realms/acme (required)")
	flag.StringVar(&o.resource, "resource", "", "this server's resource identifier, as registered in the realm: its URL, e.g. http://127.0.0.1:9191/mcp (required)")
	flag.StringVar(&o.scope, "scope", "mcp:tools", "scope a token must carry to call the tools")
	flag.StringVar(&o.listen, "listen", "", "HTTP listen address (default: the resource URL's host and port)")
	flag.StringVar(&o.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS server(s) carrying the realm's revocation rules")
	flag.StringVar(&o.credsFile, "nats-credentials", "", "JSON file printed by `latchkey nats-credentials --realm <realm>`")
	flag.StringVar(&o.creds.User, "nats-user", "", "NATS user, when not in --nats-credentials (password from NATS_PASSWORD)")
	flag.Parse()
	if o.issuer == "" || o.resource == "" {
		fmt.Fprintln(os.Stderr, "mcp-server-example: --issuer and --resource are required")
		flag.Usage()
		os.Exit(2)
	}
	o.creds.Password = os.Getenv("NATS_PASSWORD")
	if err := run(o); err != nil {
		slog.Error("mcp-server-example", "err", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	u, err := url.Parse(o.resource)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--resource %q is not a URL", o.resource)
	}
	if o.listen == "" {
		o.listen = u.Host
	}
	realm, err := verifier.RealmOf(o.issuer)
	if err != nil {
		return err
	}
	if o.credsFile != "" {
		if o.creds, err = verifier.LoadCredentials(o.credsFile); err != nil {
			return err
		}
	}
	nc, err := verifier.Connect(o.natsURL, realm, o.creds)
	if err != nil {
		return fmt.Errorf("connecting to NATS: %w", err)
	}
	defer nc.Close()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	v, err := verifier.New(startCtx, verifier.Config{Issuer: o.issuer, Audience: o.resource, NATS: nc})
	cancel()
	if err != nil {
		return fmt.Errorf("starting the verifier: %w", err)
	}
	defer v.Close()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newMux(v, o.resource, u.Path, o.scope), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.Info("listening", "addr", ln.Addr().String(), "resource", o.resource, "issuer", o.issuer)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// newMux serves the MCP endpoint at path behind the verifier, and the
// resource's metadata.
func newMux(v verifier.TokenVerifier, resource, path, scope string) *http.ServeMux {
	res := &verifier.Resource{Verifier: v, Identifier: resource, Name: "Latchkey example tools", Scopes: []string{scope}}
	mux := http.NewServeMux()
	res.Mount(mux)
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return newServer(v) }, nil)
	mux.Handle(path, res.Require(scope)(mcpHandler))
	return mux
}

// whoamiOut is what the whoami tool answers: who the token speaks for.
type whoamiOut struct {
	Subject  string `json:"subject"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Audience string `json:"audience"`
}

type greetIn struct {
	Name string `json:"name" jsonschema:"whom to greet"`
}

type greetOut struct {
	Greeting string `json:"greeting"`
}

// newServer is the MCP server with its tools.
func newServer(v verifier.TokenVerifier) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "latchkey-example", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Who the access token speaks for"},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoamiOut, error) {
			// The middleware checked the token; its claims are read again
			// from the request the SDK hands over.
			_, token, _ := strings.Cut(req.Extra.Header.Get("Authorization"), " ")
			c, err := v.Verify(strings.TrimSpace(token))
			if err != nil {
				return nil, whoamiOut{}, errors.New("no valid token")
			}
			return nil, whoamiOut{Subject: c.Subject, ClientID: c.ClientID, Scope: c.Scope, Audience: strings.Join(c.Audience, " ")}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "greet", Description: "Say hello"},
		func(_ context.Context, _ *mcp.CallToolRequest, in greetIn) (*mcp.CallToolResult, greetOut, error) {
			return nil, greetOut{Greeting: "Hello, " + in.Name + "!"}, nil
		})
	return s
}
