// Command latchkey is the Latchkey identity service: `serve` runs it,
// `bench` measures it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

const usage = `usage: latchkey <command> [flags]

commands:
  serve         run the service (embedded NATS unless --nats-url is given)
  bench token   load the token endpoint and print tokens/s and latency
  replay        print, rebuild (--rebuild) or verify (--verify) a realm's history

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
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "latchkey: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "latchkey:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "latchkey:", err)
		os.Exit(1)
	}
}

// errUsage marks a command line (flags, arguments or the environment
// variables standing for flags) that cannot be read: exit status 2.
var errUsage = errors.New("usage")

// usageError marks a flag-parsing error; -h stays flag.ErrHelp.
func usageError(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", errUsage, err)
}

// envOr returns the environment variable's value, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// envInt reads an integer environment variable, def when unset; anything
// else is an error rather than a silent default.
func envInt(name string, def int) (int, error) {
	v := envOr(name, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, usageError(fmt.Errorf("%s=%q is not an integer", name, v))
	}
	return n, nil
}

// envDuration reads a duration environment variable ("90s", "25h"), def
// when unset.
func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := envOr(name, "")
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, usageError(fmt.Errorf("%s=%q is not a duration like 90s", name, v))
	}
	return d, nil
}
