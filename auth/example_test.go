package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/depthcast/depthcast/auth"
)

// A key file holds only hashes; a client presents the key itself.
func ExampleKeyStore_Verify() {
	h := sha256.Sum256([]byte("dck_example-key"))
	file := "# keys\nsha256:" + hex.EncodeToString(h[:]) + " name=alice max_connections=2 symbols=ETH-USD,BTC-USD\n"
	keys, err := auth.ParseKeys(strings.NewReader(file))
	if err != nil {
		panic(err)
	}
	ks := auth.NewKeyStoreFromKeys(keys)
	g, err := ks.Verify("dck_example-key")
	fmt.Println(g.Name, g.MaxConnections, g.Symbols, err)
	fmt.Println(g.Allows("BTC-USD"), g.Allows("SOL-USD"))
	_, err = ks.Verify("dck_wrong")
	fmt.Println(err)
	// Output:
	// alice 2 [BTC-USD ETH-USD] <nil>
	// true false
	// invalid token: unknown API key
}

// GenerateKey makes a key for a client and the line for the key file.
func ExampleGenerateKey() {
	key, hash, err := auth.GenerateKey()
	if err != nil {
		panic(err)
	}
	line := auth.FormatKeyLine(hash, auth.Grant{Name: "bob", MaxSubscriptions: 10})
	fmt.Println(strings.HasPrefix(key, auth.KeyPrefix), strings.HasPrefix(line, "sha256:"), strings.HasSuffix(line, " name=bob max_subscriptions=10"))
	// Output: true true true
}
