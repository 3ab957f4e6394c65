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
		fmt.Fprintf(stderr, "depthcast %s: %s\nRun \"depthcast help %s\" for its flags.\n", name, userMessage(err), name)
		return 2
	default:
		fmt.Fprintf(stderr, "depthcast %s: %s\n", name, userMessage(err))
		return 1
	}
}

// internalPrefix is the name of one of the project's packages at the start of an error or of a wrapped one
// ("ingest: ", "replay: "): Go style for the packages' callers, noise to a user of the command.
var internalPrefix = regexp.MustCompile(`(^|: )(?:auth|book|client|engine|feed|ingest|replay|schema|sim): `)

// userMessage is err as a user of the command reads it, without the project's package names, and with the
// flags that set a feed setting named instead of its Go field.
func userMessage(err error) string {
	return feedFields.Replace(internalPrefix.ReplaceAllString(err.Error(), "$1"))
}

// feedFields maps the packages' validation messages onto what a user of the command set: the config
// sentinels' texts go, feed.Config's field names become the flags that set them.
var feedFields = strings.NewReplacer(
	"invalid feed config: ", "", "invalid books config: ", "", "invalid Kafka input config: ", "", "invalid node config: ", "",
	"SendQueueBytes ", "--send-queue-bytes ", "SendQueueMessages ", "--send-queue-messages ",
	"WriteTimeout ", "--write-timeout ", "Heartbeat ", "--heartbeat ", "MaxMessageBytes ", "--max-message-bytes ",
	"MaxMalformed ", "--max-malformed ", "MaxSubscriptions ", "--max-subscriptions ",
	"OpsPerSecond and OpsBurst ", "--ops-per-second ", "MaxConnections ", "--max-connections ",
	"DrainTimeout ", "--drain-timeout ",
)

// usageError is a command-line mistake (exit code 2).
type usageError struct{ error }
