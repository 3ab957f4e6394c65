package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/auth"
	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("an-hs256-secret-of-at-least-32-bytes!")

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rsaKeys returns two RSA keys and the path of a PEM file holding the first one's public key.
func rsaKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey, string) {
	t.Helper()
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwt.pub")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return k1, k2, path
}

func TestJWTVerify(t *testing.T) {
	k1, k2, pubPath := rsaKeys(t)
	pub, err := auth.LoadRSAPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	both, err := auth.NewJWTVerifier(auth.JWTConfig{Secret: secret, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	hsOnly, _ := auth.NewJWTVerifier(auth.JWTConfig{Secret: secret})
	rsOnly, _ := auth.NewJWTVerifier(auth.JWTConfig{PublicKey: pub})
	strict, _ := auth.NewJWTVerifier(auth.JWTConfig{Secret: secret, Issuer: "https://issuer.example", Audience: "depthcast"})
	lenient, _ := auth.NewJWTVerifier(auth.JWTConfig{Secret: secret, Leeway: 2 * time.Minute})
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	full := jwt.MapClaims{"sub": "alice", "exp": exp.Unix(), "max_connections": 3, "max_subscriptions": 50, "symbols": []string{"ETH-USD", "BTC-USD"}}
	pubDER := x509.MarshalPKCS1PublicKey(pub)
	for _, tc := range []struct {
		name  string
		v     *auth.JWTVerifier
		token string
		err   error // nil: valid
	}{
		{"HS256 good", both, sign(t, jwt.SigningMethodHS256, secret, full), nil},
		{"RS256 good", both, sign(t, jwt.SigningMethodRS256, k1, full), nil},
		{"HS256 only", hsOnly, sign(t, jwt.SigningMethodHS256, secret, full), nil},
		{"RS256 only", rsOnly, sign(t, jwt.SigningMethodRS256, k1, full), nil},
		{"HS256 bad signature", both, sign(t, jwt.SigningMethodHS256, []byte("wrong-secret-wrong-secret-wrong!!"), full), auth.ErrInvalidToken},
		{"RS256 bad signature", both, sign(t, jwt.SigningMethodRS256, k2, full), auth.ErrInvalidToken},
		{"RS256 to an HS256-only verifier", hsOnly, sign(t, jwt.SigningMethodRS256, k1, full), auth.ErrInvalidToken},
		{"HS256 to an RS256-only verifier", rsOnly, sign(t, jwt.SigningMethodHS256, secret, full), auth.ErrInvalidToken},
		// Algorithm confusion: an HS256 token keyed with the RSA public key bytes.
		{"HS256 keyed with the public key", rsOnly, sign(t, jwt.SigningMethodHS256, pubDER, full), auth.ErrInvalidToken},
		{"HS384", both, sign(t, jwt.SigningMethodHS384, secret, full), auth.ErrInvalidToken},
		{"alg none", both, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, full), auth.ErrInvalidToken},
		{"expired", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(-time.Minute).Unix()}), auth.ErrExpired},
		{"not before", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "nbf": exp.Unix()}), auth.ErrInvalidToken},
		{"issued in the future", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "iat": time.Now().Add(time.Hour).Unix()}), auth.ErrInvalidToken},
		{"issued in the future, within the leeway", lenient, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "iat": time.Now().Add(time.Minute).Unix()}), nil},
		{"issued in the future, past the leeway", lenient, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "iat": time.Now().Add(3 * time.Minute).Unix()}), auth.ErrInvalidToken},
		{"issued in the past", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "iat": time.Now().Add(-time.Hour).Unix()}), nil},
		{"iat not a number", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "iat": "soon"}), auth.ErrInvalidToken},
		{"no exp", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a"}), nil},
		{"negative limit", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"max_connections": -1}), auth.ErrInvalidToken},
		{"limit not a number", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"max_connections": "3"}), auth.ErrInvalidToken},
		{"symbols not a list", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"symbols": "BTC-USD"}), auth.ErrInvalidToken},
		{"empty symbol", both, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"symbols": []string{""}}), auth.ErrInvalidToken},
		{"issuer and audience match", strict, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"iss": "https://issuer.example", "aud": []string{"x", "depthcast"}}), nil},
		{"wrong issuer", strict, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"iss": "https://evil.example", "aud": "depthcast"}), auth.ErrInvalidToken},
		{"no audience", strict, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"iss": "https://issuer.example"}), auth.ErrInvalidToken},
		{"wrong audience", strict, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"iss": "https://issuer.example", "aud": "other"}), auth.ErrInvalidToken},
		{"not a JWT", both, "a.b.c", auth.ErrInvalidToken},
		{"empty", both, "", auth.ErrNoToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := tc.v.Verify(tc.token)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(tc.name, "good") || strings.HasSuffix(tc.name, "only") {
				if g.Name != "alice" || g.MaxConnections != 3 || g.MaxSubscriptions != 50 || !g.Expires.Equal(exp) ||
					!slices.Equal(g.Symbols, []string{"BTC-USD", "ETH-USD"}) {
					t.Fatalf("grant %+v does not carry the claims", g)
				}
			}
		})
	}
}

func TestJWTConfigValidate(t *testing.T) {
	for _, c := range []auth.JWTConfig{
		{},
		{Secret: []byte("short")},
		{Secret: secret, Leeway: -time.Second},
	} {
		if _, err := auth.NewJWTVerifier(c); err == nil {
			t.Errorf("NewJWTVerifier accepted %+v", c)
		}
	}
	if _, err := auth.LoadRSAPublicKey(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("LoadRSAPublicKey of a missing file succeeded")
	}
	p := filepath.Join(t.TempDir(), "bad.pem")
	_ = os.WriteFile(p, []byte("not pem"), 0o600)
	if _, err := auth.LoadRSAPublicKey(p); err == nil {
		t.Error("LoadRSAPublicKey of a bad file succeeded")
	}
}

// The Authenticator sends JWT-shaped tokens to the JWT verifier and the rest to the key store.
func TestAuthenticator(t *testing.T) {
	v, _ := auth.NewJWTVerifier(auth.JWTConfig{Secret: secret})
	ks := auth.NewKeyStoreFromKeys(mustParse(t, hashOf("dck_key")+" name=keyholder"))
	a := &auth.Authenticator{Keys: ks, JWT: v}
	if g, err := a.Verify("dck_key"); err != nil || g.Name != "keyholder" {
		t.Fatalf("key: %+v %v", g, err)
	}
	if g, err := a.Verify(sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "jwtholder"})); err != nil || g.Name != "jwtholder" {
		t.Fatalf("jwt: %+v %v", g, err)
	}
	if _, err := a.Verify("nope"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := (&auth.Authenticator{Keys: ks}).Verify(sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{})); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("a JWT without a JWT verifier: %v", err)
	}
	if _, err := (&auth.Authenticator{JWT: v}).Verify("dck_key"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("a key without a key store: %v", err)
	}
}
