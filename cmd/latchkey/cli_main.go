package main

// The admin command line: `latchkey login`, the verbs over the admin API,
// `apply` and `export`. Errors follow serve's rules: a command line that
// cannot be read exits 2 (errUsage, errFlags), anything else that fails 1.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
)

const adminUsage = `admin commands (log in first):
  login         store a server URL and credentials for the commands below
  realm         create|list|get realms
  client        create|list|get|update|rotate-secret|disable|enable|delete clients
  user          create|list|get|disable|enable|set-password|set-memberships|delete users
  node          create|list|get|rename|delete|credentials nodes of a realm's tree
  scope         list|set|delete the scope catalog
  sessions      list|revoke tokens and browser sessions
  audit         tail|export the audit log
  keys          rotate a realm's signing keys
  apply         make realms look like a realm.yaml file (--dry-run shows the plan)
  export        write a realm's configuration as a realm.yaml file
`

// cliIO is what the admin commands read and write; tests pass their own.
type cliIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// transport carries every HTTP request (nil: http.DefaultTransport).
	transport http.RoundTripper
	// promptSecret reads a secret from the terminal without echo; nil
	// when stdin is not a terminal.
	promptSecret func() (string, error)
}

func osIO() *cliIO {
	x := &cliIO{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		x.promptSecret = func() (string, error) {
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(os.Stderr)
			return string(b), err
		}
	}
	return x
}

// httpClient carries requests through the transport; a stream (audit
// tail) is ended by its context, not a timeout.
func (x *cliIO) httpClient() *http.Client { return &http.Client{Transport: x.transport} }

// runAdmin runs an admin command of the real process; Ctrl-C ends it (and
// a following audit tail) cleanly.
func runAdmin(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return adminCommand(ctx, osIO(), args)
}

// adminCommand runs one admin command line (args[0] is the command).
func adminCommand(ctx context.Context, io *cliIO, args []string) error {
	switch args[0] {
	case "login":
		return runVerb(ctx, io, loginVerb, args[1:])
	case "apply":
		return runVerb(ctx, io, applyVerb, args[1:])
	case "export":
		return runVerb(ctx, io, exportVerb, args[1:])
	}
	group := verbGroups[args[0]]
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		fmt.Fprint(io.stderr, group.usage())
		if len(args) < 2 {
			return errFlags // usage printed: exit 2
		}
		return flag.ErrHelp
	}
	for _, v := range group.verbs {
		if v.name == args[0]+" "+args[1] {
			return runVerb(ctx, io, v, args[2:])
		}
	}
	return usageError(fmt.Errorf("unknown command %q\n\n%s", args[0]+" "+args[1], group.usage()))
}

// verb is one admin command: its flags, positional arguments and action.
type verb struct {
	name  string // "client create"
	args  string // positional arguments, for the usage line: "ID"
	nargs int    // how many positional arguments it takes
	// optional: the positional arguments may be left out.
	optional bool
	summary  string
	example  string
	// noRealm: no --realm flag (other verbs act on the realm it names,
	// by default the realm logged in to); noOutput: no --output flag.
	noRealm, noOutput bool
	// define adds the verb's flags and returns its action.
	define func(fs *flag.FlagSet, s *session) func(ctx context.Context, args []string) error
}

type verbGroup struct {
	name, summary string
	verbs         []verb
}

func (g verbGroup) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: latchkey %s <command> [flags]\n\n%s\n\ncommands:\n", g.name, g.summary)
	for _, v := range g.verbs {
		fmt.Fprintf(&b, "  %-18s %s\n", strings.TrimPrefix(v.name, g.name+" "), v.summary)
	}
	fmt.Fprintf(&b, "\nRun \"latchkey %s <command> -h\" for its flags and an example.\n", g.name)
	return b.String()
}

// verbGroups are the commands with sub-commands.
var verbGroups = map[string]verbGroup{}

func registerGroup(g verbGroup) { verbGroups[g.name] = g }

// runVerb parses a verb's command line (flags may follow the positional
// arguments) and runs it.
func runVerb(ctx context.Context, io *cliIO, v verb, args []string) error {
	s := &session{io: io}
	fs := flag.NewFlagSet(v.name, flag.ContinueOnError)
	fs.SetOutput(io.stderr)
	fs.Usage = func() {
		synopsis := "latchkey " + v.name + " [flags]"
		if v.args != "" {
			synopsis = "latchkey " + v.name + " " + v.args + " [flags]"
		}
		fmt.Fprintf(fs.Output(), "usage: %s\n\n%s\n\nexample:\n%s\n\nflags:\n", synopsis, v.summary, indent(v.example))
		fs.PrintDefaults()
	}
	if !v.noRealm {
		fs.StringVar(&s.realm, "realm", "", "realm to act on (default: the realm logged in to)")
	}
	output := "table"
	if !v.noOutput {
		fs.StringVar(&output, "output", "table", "table for people, json for scripts")
		fs.StringVar(&output, "o", "table", "short for --output")
	}
	run := v.define(fs, s)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != v.nargs && !(v.optional && len(positional) == 0) {
		want := "no argument"
		if v.nargs > 0 {
			want = v.args
		}
		return usageError(fmt.Errorf("%s takes %s, got %q (see latchkey %s -h)", v.name, want, positional, v.name))
	}
	switch output {
	case "table", "json":
		s.json = output == "json"
	default:
		return usageError(fmt.Errorf("--output must be table or json, not %q", output))
	}
	if v.name != loginVerb.name {
		if err := s.connect(); err != nil {
			return err
		}
	}
	return run(ctx, positional)
}

// parseInterspersed parses flags anywhere among the positional arguments,
// as people type them (`client get ID -o json`); after "--" everything is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", errFlags, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

// readSecret reads a secret: from the environment variable env, else from
// a prompt without echo when stdin is a terminal, else from stdin's first
// line. Secrets are never taken from the command line, where other users
// and shell histories see them.
func (x *cliIO) readSecret(env, what string) (string, error) {
	if v := x.getenv(env); v != "" {
		return v, nil
	}
	if x.promptSecret != nil {
		fmt.Fprintf(x.stderr, "%s: ", what)
		s, err := x.promptSecret()
		if err != nil {
			return "", fmt.Errorf("reading the %s: %w", strings.ToLower(what), err)
		}
		return s, nil
	}
	line, err := bufio.NewReader(x.stdin).ReadString('\n')
	if line = strings.TrimRight(line, "\r\n"); line == "" || (err != nil && !errors.Is(err, io.EOF)) {
		return "", fmt.Errorf("no %s: set %s, or give it on stdin or at the terminal's prompt", strings.ToLower(what), env)
	}
	return line, nil
}

// session is what a verb's action uses: the login, the realm and the
// output format.
type session struct {
	io    *cliIO
	realm string
	json  bool
	cfg   *cliConfig
	api   *adminclient.Client
}

// connect loads the login and builds the API client.
func (s *session) connect() error {
	if s.api != nil {
		return nil
	}
	cfg, err := loadConfig(s.io)
	if err != nil {
		return err
	}
	s.cfg = cfg
	if s.realm == "" {
		s.realm = cfg.Realm
	}
	s.api = &adminclient.Client{BaseURL: cfg.URL, HTTP: s.io.httpClient(), Tokens: &configTokens{cfg: cfg, io: s.io}}
	return nil
}

// call sends one admin request; an error says what was being done.
func (s *session) call(ctx context.Context, what string, r adminclient.Request) (*adminclient.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, adminRequestTimeout)
	defer cancel()
	resp, err := s.api.Do(ctx, r)
	return resp, s.explain(what, err)
}

// requestTimeout bounds one admin request (streams are not bounded).
const adminRequestTimeout = time.Minute

// explain words an error for the person at the terminal: a refused login
// says how to log in again.
func (s *session) explain(what string, err error) error {
	var auth *adminclient.AuthError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &auth):
		return fmt.Errorf("cannot %s: %w\nlog in again: %s", what, err, s.cfg.loginCommand())
	default:
		return fmt.Errorf("cannot %s: %w", what, err)
	}
}

// realmPath is /admin/realms/<realm><suffix> for the session's realm.
func (s *session) realmPath(suffix string) string {
	return "/admin/realms/" + url.PathEscape(s.realm) + suffix
}

// has reports whether a flag was given on the command line.
func has(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}
