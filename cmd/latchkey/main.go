// Command latchkey is the Latchkey identity service: `serve` runs it,
// `bench` measures it.
package main

import (
	"fmt"
	"os"
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
	if err != nil {
		fmt.Fprintln(os.Stderr, "latchkey:", err)
		os.Exit(1)
	}
}

// envOr returns the environment variable's value, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
