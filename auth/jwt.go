package auth

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures a JWTVerifier. At least one of Secret and PublicKey must be set; each one enables its
// algorithm only, so a token cannot pick the other (no algorithm confusion).
type JWTConfig struct {
	// Secret verifies HS256 tokens. At least 32 bytes. Default: HS256 off.
	Secret []byte
	// PublicKey verifies RS256 tokens. Default: RS256 off. LoadRSAPublicKey reads one from a PEM file.
	PublicKey *rsa.PublicKey
	// Issuer, when set, must equal the token's "iss". Default: not checked.
	Issuer string
	// Audience, when set, must be one of the token's "aud". Default: not checked.
	Audience string
	// Leeway is the clock skew allowed on "exp", "nbf" and "iat". Default 0 (none).
	Leeway time.Duration
}

// MinSecretBytes is the shortest HS256 secret accepted.
const MinSecretBytes = 32

// Validate reports a config that cannot verify anything, or a secret too short to be safe.
func (c *JWTConfig) Validate() error {
	if len(c.Secret) == 0 && c.PublicKey == nil {
		return errors.New("jwt: set a secret (HS256) or a public key (RS256)")
	}
	if len(c.Secret) > 0 && len(c.Secret) < MinSecretBytes {
		return fmt.Errorf("jwt: the HS256 secret has %d bytes, want at least %d", len(c.Secret), MinSecretBytes)
	}
	if c.Leeway < 0 {
		return errors.New("jwt: leeway is negative")
	}
	return nil
}

// LoadRSAPublicKey reads an RSA public key (PKIX "PUBLIC KEY", PKCS #1 "RSA PUBLIC KEY" or a certificate)
// from a PEM file.
func LoadRSAPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwt public key: %w", err)
	}
	k, err := jwt.ParseRSAPublicKeyFromPEM(b)
	if err != nil {
		return nil, fmt.Errorf("jwt public key %s: %w", path, err)
	}
	return k, nil
}

// JWTVerifier verifies JSON Web Tokens. It is safe for concurrent use.
type JWTVerifier struct {
	cfg    JWTConfig
	parser *jwt.Parser
}

// NewJWTVerifier returns a verifier for cfg.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var methods []string
	if len(cfg.Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.PublicKey != nil {
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(cfg.Leeway), jwt.WithIssuedAt()}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &JWTVerifier{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// claims are the token claims the feed reads.
type claims struct {
	jwt.RegisteredClaims
	MaxConnections   *int     `json:"max_connections,omitempty"`
	MaxSubscriptions *int     `json:"max_subscriptions,omitempty"`
	Symbols          []string `json:"symbols,omitempty"`
}

func (v *JWTVerifier) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		return v.cfg.Secret, nil
	case *jwt.SigningMethodRSA:
		return v.cfg.PublicKey, nil
	}
	return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
}

// Verify checks a token's signature and claims ("exp", "nbf", and "iat", which may not be later than now
// plus the leeway) and returns its grant: Name from "sub", Expires from "exp",
// the limits from "max_connections" and "max_subscriptions", Symbols from "symbols".
func (v *JWTVerifier) Verify(token string) (Grant, error) {
	if token == "" {
		return Grant{}, ErrNoToken
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, v.key)
	if errors.Is(err, jwt.ErrTokenExpired) {
		return Grant{}, fmt.Errorf("%w: %v", ErrExpired, err)
	}
	if err != nil {
		return Grant{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	g := Grant{Name: c.Subject}
	if g.Name == "" {
		g.Name = "jwt"
	}
	if c.ExpiresAt != nil {
		g.Expires = c.ExpiresAt.Time.Add(v.cfg.Leeway)
	}
	for _, lim := range []struct {
		p   *int
		dst *int
		n   string
	}{{c.MaxConnections, &g.MaxConnections, "max_connections"}, {c.MaxSubscriptions, &g.MaxSubscriptions, "max_subscriptions"}} {
		if lim.p == nil {
			continue
		}
		if *lim.p < 0 || *lim.p > maxLimit {
			return Grant{}, fmt.Errorf("%w: claim %s %d out of range 0..%d", ErrInvalidToken, lim.n, *lim.p, maxLimit)
		}
		*lim.dst = *lim.p
	}
	if len(c.Symbols) > 0 {
		syms := slices.Clone(c.Symbols)
		for _, s := range syms {
			if s == "" {
				return Grant{}, fmt.Errorf("%w: claim symbols holds an empty symbol", ErrInvalidToken)
			}
		}
		slices.Sort(syms)
		g.Symbols = slices.Compact(syms)
	}
	return g, nil
}

// Authenticator verifies a token as a JWT when it has the JWT shape (three dot-separated parts) and a
// JWTVerifier is set, and as an API key otherwise. It is safe for concurrent use.
type Authenticator struct {
	Keys *KeyStore    // nil: API keys off
	JWT  *JWTVerifier // nil: JWTs off
}

// Verify returns the grant of token, or an error wrapping ErrNoToken, ErrInvalidToken or ErrExpired.
func (a *Authenticator) Verify(token string) (Grant, error) {
	if token == "" {
		return Grant{}, ErrNoToken
	}
	if a.JWT != nil && strings.Count(token, ".") == 2 {
		return a.JWT.Verify(token)
	}
	if a.Keys != nil {
		return a.Keys.Verify(token)
	}
	return Grant{}, fmt.Errorf("%w: not a JWT", ErrInvalidToken)
}
