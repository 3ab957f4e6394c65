package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/depthcast/depthcast/auth"
)

func hashOf(key string) string {
	h := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(h[:])
}

func TestParseKeys(t *testing.T) {
	h1, h2 := hashOf("k1"), hashOf("k2")
	for _, tc := range []struct {
		name    string
		in      string
		want    []auth.Grant // nil with wantErr
		wantErr string       // a part of the error; "" for none
	}{
		{"empty", "", nil, ""},
		{"comments and blanks", "# a comment\n\n   \n\t# indented comment\n", nil, ""},
		{"hash only", h1, []auth.Grant{{Name: h1[7:19]}}, ""},
		{"all fields", h1 + " name=alice max_connections=10 max_subscriptions=100 symbols=ETH-USD,BTC-USD,ETH-USD",
			[]auth.Grant{{Name: "alice", MaxConnections: 10, MaxSubscriptions: 100, Symbols: []string{"BTC-USD", "ETH-USD"}}}, ""},
		{"upper-case hex, tabs, CRLF", "  sha256:" + strings.ToUpper(h1[7:]) + "\tname=a\r\n" + h2 + " name=b\r\n",
			[]auth.Grant{{Name: "a"}, {Name: "b"}}, ""},
		{"two keys one name", h1 + " name=svc\n" + h2 + " name=svc", []auth.Grant{{Name: "svc"}, {Name: "svc"}}, ""},
		{"no prefix", h1[7:], nil, "line 1: want sha256:"},
		{"md5", "md5:" + h1[7:39], nil, "line 1"},
		{"short hash", h1[:60], nil, "hex digits"},
		{"long hash", h1 + "00", nil, "hex digits"},
		{"not hex", "sha256:" + strings.Repeat("zz", 32), nil, "not hex"},
		{"duplicate hash", h1 + "\n# x\n" + h1 + " name=b", nil, "line 3: the same key hash as line 1"},
		{"unknown field", h1 + " nmae=alice", nil, "unknown field"},
		{"field twice", h1 + " name=a name=b", nil, "name set twice"},
		{"no equals", h1 + " alice", nil, "want name=value"},
		{"empty name", h1 + " name=", nil, "name"},
		{"negative limit", h1 + " max_connections=-1", nil, "max_connections"},
		{"huge limit", h1 + " max_subscriptions=99999999999999999999", nil, "max_subscriptions"},
		{"not a number", h1 + " max_connections=ten", nil, "max_connections"},
		{"empty symbol", h1 + " symbols=BTC-USD,,ETH-USD", nil, "empty symbol"},
		{"trailing comma", h1 + " symbols=BTC-USD,", nil, "empty symbol"},
		{"error on a later line", h1 + "\n\n" + h2 + " max_connections=x", nil, "line 3"},
		{"not UTF-8", h1 + " name=\xff", nil, "UTF-8"},
		{"control character", h1 + " name=a\x01b", nil, "name"},
		{"line too long", h1 + " name=" + strings.Repeat("a", 70000), nil, "after line 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := auth.ParseKeys(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, auth.ErrKeyFile) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want ErrKeyFile mentioning %q", err, tc.wantErr)
				}
				if keys != nil {
					t.Fatalf("keys %v returned with an error", keys)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []auth.Grant
			for _, k := range keys {
				got = append(got, k.Grant)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Name != tc.want[i].Name || got[i].MaxConnections != tc.want[i].MaxConnections ||
					got[i].MaxSubscriptions != tc.want[i].MaxSubscriptions || !slices.Equal(got[i].Symbols, tc.want[i].Symbols) {
					t.Errorf("key %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// The documented example file parses.
func TestParseKeysFixture(t *testing.T) {
	f, err := os.Open("testdata/keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys, err := auth.ParseKeys(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Grant.Name != "alice" || !slices.Equal(keys[0].Grant.Symbols, []string{"BTC-USD", "ETH-USD"}) {
		t.Fatalf("got %+v", keys)
	}
	g, err := auth.NewKeyStoreFromKeys(keys).Verify("dck_alice-test-key")
	if err != nil || g.Name != "alice" || g.MaxConnections != 10 || g.MaxSubscriptions != 100 {
		t.Fatalf("the fixture's key: %+v, %v", g, err)
	}
}

// FormatKeyLine writes what ParseKeys reads back.
func TestFormatKeyLineRoundTrip(t *testing.T) {
	key, h, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, auth.KeyPrefix) || len(key) < 40 {
		t.Fatalf("key %q", key)
	}
	g := auth.Grant{Name: "svc-1", MaxConnections: 3, MaxSubscriptions: 7, Symbols: []string{"A-B", "C-D"}}
	line := auth.FormatKeyLine(h, g)
	ks := auth.NewKeyStoreFromKeys(mustParse(t, line))
	got, err := ks.Verify(key)
	if err != nil {
		t.Fatalf("Verify: %v (line %q)", err, line)
	}
	if got.Name != g.Name || got.MaxConnections != 3 || got.MaxSubscriptions != 7 || !slices.Equal(got.Symbols, g.Symbols) {
		t.Fatalf("got %+v, want %+v", got, g)
	}
	if !got.Allows("A-B") || got.Allows("E-F") {
		t.Fatalf("Allows is wrong for %+v", got)
	}
	if !(&auth.Grant{}).Allows("ANY") {
		t.Fatal("a grant without symbols must allow every symbol")
	}
}

func mustParse(t *testing.T, lines ...string) []auth.Key {
	t.Helper()
	keys, err := auth.ParseKeys(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestKeyStoreVerify(t *testing.T) {
	ks := auth.NewKeyStoreFromKeys(mustParse(t, hashOf("key-one")+" name=one", hashOf("key-two")+" name=two"))
	for _, tc := range []struct {
		token string
		name  string
		err   error
	}{
		{"key-one", "one", nil},
		{"key-two", "two", nil},
		{"key-three", "", auth.ErrInvalidToken},
		{"key-one ", "", auth.ErrInvalidToken},
		{"", "", auth.ErrNoToken},
	} {
		g, err := ks.Verify(tc.token)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) || g.Name != tc.name {
			t.Errorf("Verify(%q) = %+v, %v; want %q, %v", tc.token, g, err, tc.name, tc.err)
		}
	}
}

// Reload swaps the keys when the file parses and keeps them when it does not.
func TestKeyStoreReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(hashOf("a") + "\n")
	ks, err := auth.NewKeyStore(path)
	if err != nil {
		t.Fatal(err)
	}
	write(hashOf("b") + "\n" + hashOf("c") + "\n")
	if _, err := ks.Verify("b"); err == nil {
		t.Fatal("b verified before Reload")
	}
	if err := ks.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Verify("a"); err == nil || ks.Len() != 2 {
		t.Fatalf("a still verifies after Reload, or %d keys", ks.Len())
	}
	write("garbage\n")
	if err := ks.Reload(); !errors.Is(err, auth.ErrKeyFile) {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	if _, err := ks.Verify("c"); err != nil {
		t.Fatalf("a failed Reload dropped the keys: %v", err)
	}
	_ = os.Remove(path)
	if err := ks.Reload(); !errors.Is(err, auth.ErrKeyFile) {
		t.Fatalf("Reload of a missing file: %v", err)
	}
	if _, err := auth.NewKeyStore(path); err == nil {
		t.Fatal("NewKeyStore of a missing file succeeded")
	}
}

// FuzzParseKeys: any input either parses into keys that verify their own hashes' grants, or is refused
// with ErrKeyFile; it never panics.
func FuzzParseKeys(f *testing.F) {
	f.Add(hashOf("k") + " name=alice max_connections=10 max_subscriptions=100 symbols=BTC-USD,ETH-USD\n")
	f.Add("# c\n\n" + hashOf("k") + "\n" + hashOf("j") + " symbols=A\n")
	f.Add("sha256:zz name=\n")
	f.Add(hashOf("k") + " max_connections=-1 name=a=b\r\n")
	if b, err := os.ReadFile("testdata/keys.txt"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, in string) {
		keys, err := auth.ParseKeys(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, auth.ErrKeyFile) || keys != nil {
				t.Fatalf("error %v does not wrap ErrKeyFile, or keys came with it", err)
			}
			return
		}
		for _, k := range keys {
			g := k.Grant
			if g.Name == "" || g.MaxConnections < 0 || g.MaxSubscriptions < 0 || !slices.IsSorted(g.Symbols) {
				t.Fatalf("bad grant %+v", g)
			}
			// What FormatKeyLine writes parses back to the same key.
			again := mustParse(t, auth.FormatKeyLine(k.Hash, g))
			if len(again) != 1 || again[0].Hash != k.Hash || again[0].Grant.Name != g.Name || !slices.Equal(again[0].Grant.Symbols, g.Symbols) {
				t.Fatalf("round trip of %+v gave %+v", k, again)
			}
		}
	})
}

func TestGrantDenied(t *testing.T) {
	tests := []struct {
		name  string
		g     *auth.Grant
		syms  []string
		wants []string
	}{
		{"authentication off", nil, []string{"BTC-USD", "ETH-USD"}, nil},
		{"every symbol", &auth.Grant{}, []string{"BTC-USD"}, nil},
		{"restricted", &auth.Grant{Symbols: []string{"BTC-USD"}}, []string{"ETH-USD", "BTC-USD", "SOL-USD"}, []string{"ETH-USD", "SOL-USD"}},
		{"restricted, allowed", &auth.Grant{Symbols: []string{"BTC-USD", "ETH-USD"}}, []string{"ETH-USD"}, nil},
	}
	for _, tt := range tests {
		got := tt.g.Denied(tt.syms...)
		if strings.Join(got, ",") != strings.Join(tt.wants, ",") {
			t.Errorf("%s: Denied(%v) = %v, want %v", tt.name, tt.syms, got, tt.wants)
		}
	}
}
