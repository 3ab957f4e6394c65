package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/depthcast/depthcast/auth"
)

// runKeygen prints a new API key and the key file line that lets it in.
func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", "keygen [--name NAME] [--max-connections N] [--max-subscriptions N] [--symbols A,B]",
		"Prints a new random API key (256 bits) and the line to add to the key file of serve --auth-keys.\n"+
			"Only the key's SHA-256 goes into the file; give the key itself to the client. After editing the\n"+
			"file, send the server SIGHUP to reload it.", stderr)
	var g auth.Grant
	var syms listFlag
	fs.StringVar(&g.Name, "name", "", "who holds the key (connection limits are counted per name; default: the start of the hash)")
	fs.IntVar(&g.MaxConnections, "max-connections", 0, "open connections of this key (0: only the server's limits)")
	fs.IntVar(&g.MaxSubscriptions, "max-subscriptions", 0, "subscriptions per connection of this key (0: the server's limit)")
	fs.Var(&syms, "symbols", "symbols the key may see, comma-separated (default: all)")
	if err := parseFlags(fs, args); err != nil {
		return usageErr(err)
	}
	if strings.ContainsAny(g.Name, " \t\r\n") {
		return usageError{errors.New("--name must not contain spaces")}
	}
	if g.MaxConnections < 0 || g.MaxSubscriptions < 0 {
		return usageError{errors.New("--max-connections and --max-subscriptions must not be negative")}
	}
	g.Symbols = slices.Compact(slices.Sorted(slices.Values(syms)))
	key, hash, err := auth.GenerateKey()
	if err != nil {
		return err
	}
	line := auth.FormatKeyLine(hash, g)
	// The line must read back as this key's grant.
	keys, err := auth.ParseKeys(strings.NewReader(line))
	if err != nil {
		return usageError{err}
	}
	if _, err := auth.NewKeyStoreFromKeys(keys).Verify(key); err != nil {
		return fmt.Errorf("keygen: the new line does not verify its key: %w", err)
	}
	fmt.Fprintf(stdout, "# API key: give it to the client (Authorization: Bearer KEY, or ?token=KEY); it is not stored anywhere\n%s\n", key)
	fmt.Fprintf(stdout, "# key file line: add it to the --auth-keys file, then send the server SIGHUP\n%s\n", line)
	return nil
}
