// Command depthcast is a market data feed: it reads order book events from Kafka, keeps every symbol's book
// in memory and streams snapshots and incremental updates to WebSocket clients.
//
//	depthcast serve    --brokers HOST:PORT [--topic md.events] [--listen 127.0.0.1:8080] [--start earliest]
//	depthcast demo     [--listen 127.0.0.1:8080] [--symbols 8] [--rate 2000] [--seed 1]
//	depthcast simulate --brokers HOST:PORT [--topic md.events] [--symbols 8] [--rate 2000] [--seed 1]
//	depthcast tail     --url ws://HOST:PORT/ws --symbol SYMBOL [--depth 10] [--trades] [--plain]
//	depthcast record   --brokers HOST:PORT --out DIR [--topic md.events] [--from T] [--to T|now]
//	depthcast recording verify DIR
//	depthcast keygen   [--name alice] [--max-connections 10] [--symbols BTC-USD,ETH-USD]
//	depthcast replay   --in DIR [--listen 127.0.0.1:8080] [--speed 1] [--from T] [--to T]
//
// Every flag can also be set through the environment: --send-queue-bytes is DEPTHCAST_SEND_QUEUE_BYTES.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"unicode"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `depthcast: a market data feed from Kafka to WebSocket clients.

usage: depthcast COMMAND [flags]

Commands:
  serve     run the feed against a Kafka cluster
  demo      run everything in one process: a Kafka-protocol broker, a simulated exchange and the feed
  simulate  write simulated order flow to a Kafka cluster
  tail      follow one symbol's book and trades from a feed, in the terminal
  record    record the raw stream of a topic into a directory, for replays
  recording "recording verify DIR": check every block of a recording and print a summary
  keygen    print a new API key and its line for the key file of serve --auth-keys
  replay    serve the feed from a recording, without Kafka
  help      show this, or "depthcast help COMMAND" for a command's flags

Flags can also be set through the environment: --send-queue-bytes is DEPTHCAST_SEND_QUEUE_BYTES.
`

// run runs one command and returns the process exit code: 0 on success, 1 on failure, 2 on bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"serve":    runServe,
		"demo":     runDemo,
		"simulate": runSimulate,
		"tail":     runTail,
		"record":   runRecord,
		"keygen":   runKeygen,
		"replay":   runReplay,
	}
	cmds["recording"] = runRecording
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 && cmds[rest[0]] != nil {
			_ = cmds[rest[0]](ctx, []string{"--help"}, stdout, stdout)
			return 0
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "depthcast: unknown command %q\n\n%s", name, usage)
		return 2
	}
	err := cmd(ctx, rest, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "depthcast %s: %s\nRun \"depthcast help %s\" for its flags.\n", name, userMessage(name, err), name)
		return 2
	default:
		fmt.Fprintf(stderr, "depthcast %s: %s\n", name, userMessage(name, err))
		return 1
	}
}

// internalPrefix is the name of one of the project's packages at the start of an error or of a wrapped one
// ("ingest: ", "replay: "): Go style for the packages' callers, noise to a user of the command.
var internalPrefix = regexp.MustCompile(`(^|: )(?:auth|book|client|engine|feed|ingest|replay|schema|sim): `)

// configSentinels are the texts of the packages' config sentinels, which lead their Validate errors: Go
// callers branch on them, a user of the command reads past them.
var configSentinels = func() *strings.Replacer {
	var pairs []string
	for _, err := range []error{client.ErrConfig, engine.ErrConfig, feed.ErrConfig, ingest.ErrConfig, node.ErrConfig} {
		pairs = append(pairs, err.Error()+": ", "")
	}
	// The command sets OpsBurst from --ops-per-second: a user set one of the two.
	return strings.NewReplacer(append(pairs, "OpsPerSecond and OpsBurst ", "OpsPerSecond ")...)
}()

// goField is a Go identifier in an error, with the structs it is reached through ("Guard.TrustedProxies"):
// group 1 is all of it, group 2 the field.
var goField = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.])((?:[A-Z][A-Za-z0-9]*\.)*([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)*))\b`)

// userMessage is the error of command as a user of it reads it: without the project's package names and
// config sentinels, and with the flag that sets a config field (its name in kebab case: SendQueueBytes is
// --send-queue-bytes) in place of the Go field. A field is an identifier of two words or more
// ("MaxReplays"), one reached through a struct ("Guard.X") or one that starts the message ("Heartbeat");
// a single word inside a sentence is left alone.
func userMessage(command string, err error) string {
	msg := configSentinels.Replace(internalPrefix.ReplaceAllString(err.Error(), "$1"))
	flags := commandFlags(command)
	var b strings.Builder
	last := 0
	for _, ix := range goField.FindAllStringSubmatchIndex(msg, -1) {
		token, field := msg[ix[2]:ix[3]], msg[ix[4]:ix[5]]
		words := strings.IndexFunc(field[1:], unicode.IsUpper) >= 0
		name := kebab(field)
		if !flags[name] || !words && ix[2] != 0 && token == field {
			continue
		}
		b.WriteString(msg[last:ix[2]])
		b.WriteString("--" + name)
		last = ix[3]
	}
	b.WriteString(msg[last:])
	return b.String()
}

// kebab returns a Go identifier in kebab case: MaxConnectionsPerIP is max-connections-per-ip.
func kebab(id string) string {
	var b strings.Builder
	r := []rune(id)
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1])) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// usageError is a command-line mistake (exit code 2).
type usageError struct{ error }
