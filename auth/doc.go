// Package auth verifies the credentials a client presents at the WebSocket handshake: API keys, kept as
// SHA-256 hashes in a key file, and JSON Web Tokens signed with HS256 or RS256. A verified credential
// becomes a Grant: who the client is, how many connections and subscriptions it may hold, which symbols it
// may see, and when it expires.
//
// Key file format (one key per line; blank lines and lines starting with # are ignored):
//
//	sha256:<64 hex digits> name=alice max_connections=10 max_subscriptions=100 symbols=BTC-USD,ETH-USD
//
// Only the hash is stored. Keys are high-entropy random strings (see GenerateKey), so a plain SHA-256 is
// the right hash: there is nothing to brute-force. Fields after the hash are optional: name defaults to
// the first 12 hex digits of the hash, the limits to 0 (the server's own limits), symbols to every symbol.
//
// JWT claims: "sub" (the name), "exp" (honoured when present), "iss" and "aud" (checked when configured),
// "max_connections", "max_subscriptions" (numbers) and "symbols" (an array of strings; absent = every
// symbol).
//
// Concurrency: KeyStore, JWTVerifier and Authenticator are safe for concurrent use; KeyStore.Reload swaps
// the whole key set at once, so a Verify sees either the old set or the new one. The package starts no
// goroutines and installs no signal handlers: the caller decides when to Reload.
package auth
