package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// Key is one line of a key file: the SHA-256 of an API key and what the key allows.
type Key struct {
	Hash  [sha256.Size]byte
	Grant Grant
}

// maxKeyLine bounds one line of a key file.
const maxKeyLine = 64 << 10

// maxLimit bounds the limits a key file may set.
const maxLimit = 1 << 30

// ParseKeys reads a key file (see the package documentation for the format). It returns the first error
// with its line number, wrapping ErrKeyFile; nothing is returned on error.
func ParseKeys(r io.Reader) ([]Key, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxKeyLine)
	var keys []Key
	seen := map[[sha256.Size]byte]int{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		k, err := parseKeyLine(text)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrKeyFile, line, err)
		}
		if prev, dup := seen[k.Hash]; dup {
			return nil, fmt.Errorf("%w: line %d: the same key hash as line %d", ErrKeyFile, line, prev)
		}
		seen[k.Hash] = line
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: after line %d: %v", ErrKeyFile, line, err)
	}
	return keys, nil
}

func parseKeyLine(text string) (Key, error) {
	var k Key
	if !utf8.ValidString(text) {
		return k, fmt.Errorf("not UTF-8")
	}
	fields := strings.Fields(text)
	h, ok := strings.CutPrefix(fields[0], "sha256:")
	if !ok {
		return k, fmt.Errorf("want sha256:<64 hex digits> first, got %.20q", fields[0])
	}
	if len(h) != 2*sha256.Size {
		return k, fmt.Errorf("hash has %d hex digits, want %d", len(h), 2*sha256.Size)
	}
	if _, err := hex.Decode(k.Hash[:], []byte(h)); err != nil {
		return k, fmt.Errorf("hash is not hex: %v", err)
	}
	set := map[string]bool{}
	for _, f := range fields[1:] {
		name, val, ok := strings.Cut(f, "=")
		if !ok {
			return k, fmt.Errorf("want name=value, got %.40q", f)
		}
		if set[name] {
			return k, fmt.Errorf("%s set twice", name)
		}
		set[name] = true
		switch name {
		case "name":
			if val == "" || strings.IndexFunc(val, unicode.IsControl) >= 0 {
				return k, fmt.Errorf("name must be non-empty printable text")
			}
			k.Grant.Name = val
		case "max_connections", "max_subscriptions":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > maxLimit {
				return k, fmt.Errorf("%s=%.20q: want a whole number 0..%d", name, val, maxLimit)
			}
			if name == "max_connections" {
				k.Grant.MaxConnections = n
			} else {
				k.Grant.MaxSubscriptions = n
			}
		case "symbols":
			syms, err := parseSymbols(val)
			if err != nil {
				return k, err
			}
			k.Grant.Symbols = syms
		default:
			return k, fmt.Errorf("unknown field %.40q: want name, max_connections, max_subscriptions or symbols", name)
		}
	}
	if k.Grant.Name == "" {
		k.Grant.Name = h[:12]
	}
	return k, nil
}

func parseSymbols(val string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(val, ",") {
		if s == "" {
			return nil, fmt.Errorf("symbols=%.40q: empty symbol", val)
		}
		if strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("symbols: %.40q is not printable", s)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// KeyStore holds the keys of a key file. Verify is safe for concurrent use with Reload.
type KeyStore struct {
	path string
	keys atomic.Pointer[[]Key]
}

// NewKeyStore loads the key file at path.
func NewKeyStore(path string) (*KeyStore, error) {
	ks := &KeyStore{path: path}
	if err := ks.Reload(); err != nil {
		return nil, err
	}
	return ks, nil
}

// NewKeyStoreFromKeys returns a store of fixed keys; its Reload keeps them.
func NewKeyStoreFromKeys(keys []Key) *KeyStore {
	ks := &KeyStore{}
	keys = slices.Clone(keys)
	ks.keys.Store(&keys)
	return ks
}

// Reload reads the key file again and, if it parses, replaces the keys at once. On error the keys in use
// stay as they were.
func (ks *KeyStore) Reload() error {
	if ks.path == "" {
		return nil
	}
	f, err := os.Open(ks.path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	defer f.Close()
	keys, err := ParseKeys(f)
	if err != nil {
		return fmt.Errorf("%s: %w", ks.path, err)
	}
	ks.keys.Store(&keys)
	return nil
}

// Len returns the number of keys in use.
func (ks *KeyStore) Len() int { return len(*ks.keys.Load()) }

// Verify returns the grant of an API key. It compares the key's hash with every stored hash in constant
// time, so the time it takes does not depend on which hash, if any, matched.
func (ks *KeyStore) Verify(token string) (Grant, error) {
	if token == "" {
		return Grant{}, ErrNoToken
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i, k := range *ks.keys.Load() {
		if subtle.ConstantTimeCompare(h[:], k.Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Grant{}, fmt.Errorf("%w: unknown API key", ErrInvalidToken)
	}
	return (*ks.keys.Load())[found].Grant, nil
}

// KeyPrefix starts every key GenerateKey makes, so keys are easy to recognize (and to find in leaked text).
const KeyPrefix = "dck_"

// GenerateKey returns a new random API key (256 bits) and its SHA-256 hash.
func GenerateKey() (key string, hash [sha256.Size]byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", hash, fmt.Errorf("random key: %w", err)
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, sha256.Sum256([]byte(key)), nil
}

// FormatKeyLine returns the key file line of a key with hash and grant g (Expires is not part of a key
// file and is left out).
func FormatKeyLine(hash [sha256.Size]byte, g Grant) string {
	var b strings.Builder
	b.WriteString("sha256:")
	b.WriteString(hex.EncodeToString(hash[:]))
	if g.Name != "" {
		b.WriteString(" name=" + g.Name)
	}
	if g.MaxConnections > 0 {
		b.WriteString(" max_connections=" + strconv.Itoa(g.MaxConnections))
	}
	if g.MaxSubscriptions > 0 {
		b.WriteString(" max_subscriptions=" + strconv.Itoa(g.MaxSubscriptions))
	}
	if len(g.Symbols) > 0 {
		b.WriteString(" symbols=" + strings.Join(g.Symbols, ","))
	}
	return b.String()
}
