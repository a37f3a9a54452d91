// Command latchkey is the Latchkey identity service: `serve` runs it,
// `bench` measures it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"
)

const usage = `usage: latchkey <command> [flags]

commands:
  serve         run the service (embedded NATS unless --nats-url is given)
  bench token   load the token endpoint and print tokens/s and latency
  replay        print, rebuild (--rebuild) or verify (--verify) a realm's history
  nats-credentials
                print the NATS user of a realm's resource servers (serve --nats-listen)
  dpop-proof    print a DPoP proof for one request (RFC 9449), made with a key from a PEM file

` + adminUsage + `
Run "latchkey <command> -h" for its flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "bench":
		err = bench(os.Args[2:])
	case "replay":
		err = replay(os.Args[2:])
	case "nats-credentials":
		err = natsCredentials(os.Args[2:], os.Stdout)
	case "dpop-proof":
		err = dpopProof(os.Args[2:], os.Stdout, time.Now())
	case "login", "realm", "client", "user", "node", "scope", "sessions", "audit", "keys", "apply", "export":
		err = runAdmin(os.Args[1:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "latchkey: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if status := exitStatus(err, os.Stderr); status != 0 {
		os.Exit(status)
	}
}

// exitStatus reports a command's error and returns its exit status: 0, 2
// for a command line that cannot be read, 1 for anything else that failed.
func exitStatus(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFlags):
		return 2 // the flag package has said what is wrong
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "latchkey:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "latchkey:", err)
		return 1
	}
}

// errUsage marks a command line (flags, arguments or the environment
// variables standing for flags) that cannot be read: exit status 2.
var errUsage = errors.New("usage")

// errFlags marks an error of flag.FlagSet.Parse, which it has printed.
var errFlags = errors.New("flags")

// usageError marks a command line that cannot be read (once).
func usageError(err error) error {
	if err == nil || errors.Is(err, errUsage) || errors.Is(err, errFlags) || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", errUsage, err)
}

// parseFlags parses args; -h stays flag.ErrHelp, any other failure
// (already printed with the usage) exits 2. A flag's environment variable
// that could not be read (envErrs, by flag name) is an error only when
// the flag does not replace it.
func parseFlags(fs *flag.FlagSet, args []string, envErrs map[string]error) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errFlags, err)
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0)))
	}
	fs.Visit(func(f *flag.Flag) { delete(envErrs, f.Name) })
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(envErrs)) {
		errs = append(errs, envErrs[name])
	}
	return usageError(errors.Join(errs...))
}

// envOr returns the environment variable's value, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// envValue reads the environment variable standing for flag with parse,
// def when unset; a value parse refuses is recorded in errs (as not being
// what) rather than replaced by def in silence.
func envValue[T any](errs map[string]error, flag, name string, def T, parse func(string) (T, error), what string) T {
	v := envOr(name, "")
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		errs[flag] = fmt.Errorf("%s=%q is not %s", name, v, what)
	}
	return x
}

func envInt(errs map[string]error, flag, name string, def int) int {
	return envValue(errs, flag, name, def, strconv.Atoi, "an integer")
}

func envDuration(errs map[string]error, flag, name string, def time.Duration) time.Duration {
	return envValue(errs, flag, name, def, time.ParseDuration, "a duration like 90s")
}
