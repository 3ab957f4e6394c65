package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/feed"
)

// guardFlags map onto feed.GuardConfig (without Auth) and the node's TLS settings. serve, replay and demo
// have them.
type guardFlags struct {
	origins      listFlag
	proxies      listFlag
	perIP        int
	ratePerIP    float64
	burstPerIP   int
	pingInterval time.Duration
	idleTimeout  time.Duration
	tlsCert      string
	tlsKey       string
}

func (f *guardFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.origins, "allow-origins", "origins browsers may connect from, e.g. https://app.example.com,https://*.example.com; others get 403 (default: any; requests without Origin are always allowed)")
	fs.Var(&f.proxies, "trusted-proxies", "addresses or CIDR prefixes of reverse proxies / load balancers in front; through them the per-IP limits count the client in X-Forwarded-For (default: none, the TCP peer)")
	fs.IntVar(&f.perIP, "max-connections-per-ip", feed.DefaultMaxConnectionsPerIP, "open WebSocket connections from one IP address before handshakes get 429 (0: no cap)")
	fs.Float64Var(&f.ratePerIP, "connect-rate-per-ip", feed.DefaultConnectRatePerIP, "WebSocket handshakes per second from one IP address before 429 (0: no cap)")
	fs.IntVar(&f.burstPerIP, "connect-burst-per-ip", feed.DefaultConnectBurstPerIP, "burst of --connect-rate-per-ip")
	fs.DurationVar(&f.pingInterval, "ping-interval", feed.DefaultPingInterval, "interval of WebSocket pings to each connection")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", feed.DefaultIdleTimeout, "close (1008) a connection from which nothing, not even a pong, arrived for this long (0: off)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve https:// and wss:// (with --tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
}

func (f *guardFlags) config() feed.GuardConfig {
	idle := f.idleTimeout
	if idle == 0 {
		idle = -1 // the flag's 0 is "off"; the config's 0 is its default
	}
	return feed.GuardConfig{AllowOrigins: f.origins, TrustedProxies: f.proxies, MaxConnectionsPerIP: f.perIP, ConnectRatePerIP: f.ratePerIP,
		ConnectBurstPerIP: f.burstPerIP, PingInterval: f.pingInterval, IdleTimeout: idle}
}

// securityFlags are the guard, TLS and authentication flags of a node that faces clients (serve, replay).
type securityFlags struct {
	guard guardFlags
	auth  authFlags
	open  bool // authentication is off (set by apply)
}

func (f *securityFlags) register(fs *flag.FlagSet) {
	f.guard.register(fs)
	f.auth.register(fs)
}

// apply sets fcfg's guard and authenticator from the flags and returns the listener's TLS config (nil:
// plain) and the key store to reload on SIGHUP (nil: none).
func (f *securityFlags) apply(fcfg *feed.Config) (*tls.Config, *auth.KeyStore, error) {
	tlsCfg, err := loadTLS(f.guard.tlsCert, f.guard.tlsKey)
	if err != nil {
		return nil, nil, err
	}
	authn, keys, err := f.auth.build()
	if err != nil {
		return nil, nil, err
	}
	f.open = authn == nil
	fcfg.Guard = f.guard.config()
	fcfg.Guard.Auth = authn
	return tlsCfg, keys, nil
}

// warnIfOpen warns when authentication is off; the commands call it once the rest of their flags are
// known to be valid, so that a mistake is the first thing they print.
func (f *securityFlags) warnIfOpen(log *slog.Logger) {
	if f.open {
		log.Warn("authentication is off: anyone who reaches the listener can connect (see --auth-keys, --auth-jwt-secret, --auth-jwt-key)")
	}
}

// authFlags turn authentication on (serve and replay).
type authFlags struct {
	keys        string
	jwtSecret   string
	jwtKey      string
	jwtIssuer   string
	jwtAudience string
	jwtLeeway   time.Duration
}

func (f *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.keys, "auth-keys", "", "API key file (lines of sha256:HEX name=… max_connections=… max_subscriptions=… symbols=…); turns auth on; reloaded on SIGHUP")
	fs.StringVar(&f.jwtSecret, "auth-jwt-secret", "", "HS256 secret (at least 32 bytes; prefer the environment variable); turns auth on")
	fs.StringVar(&f.jwtKey, "auth-jwt-key", "", "PEM RSA public key file for RS256 tokens; turns auth on")
	fs.StringVar(&f.jwtIssuer, "auth-jwt-issuer", "", "required iss claim of tokens (default: not checked)")
	fs.StringVar(&f.jwtAudience, "auth-jwt-audience", "", "required aud claim of tokens (default: not checked)")
	fs.DurationVar(&f.jwtLeeway, "auth-jwt-leeway", 0, "clock skew allowed on exp and nbf")
}

// build returns the authenticator the flags ask for (nil: auth off) and the key store to reload on SIGHUP.
func (f *authFlags) build() (feed.Authenticator, *auth.KeyStore, error) {
	var a auth.Authenticator
	if f.keys != "" {
		ks, err := auth.NewKeyStore(f.keys)
		if err != nil {
			return nil, nil, fmt.Errorf("--auth-keys: %w", err)
		}
		a.Keys = ks
	}
	if f.jwtSecret != "" || f.jwtKey != "" {
		cfg := auth.JWTConfig{Secret: []byte(f.jwtSecret), Issuer: f.jwtIssuer, Audience: f.jwtAudience, Leeway: f.jwtLeeway}
		if f.jwtKey != "" {
			k, err := auth.LoadRSAPublicKey(f.jwtKey)
			if err != nil {
				return nil, nil, fmt.Errorf("--auth-jwt-key: %w", err)
			}
			cfg.PublicKey = k
		}
		v, err := auth.NewJWTVerifier(cfg)
		if err != nil {
			return nil, nil, err
		}
		a.JWT = v
	} else if f.jwtIssuer != "" || f.jwtAudience != "" {
		return nil, nil, errors.New("--auth-jwt-issuer and --auth-jwt-audience need --auth-jwt-secret or --auth-jwt-key")
	}
	if a.Keys == nil && a.JWT == nil {
		return nil, nil, nil
	}
	return &a, a.Keys, nil
}

// reloadOnHUP reloads ks on every SIGHUP until ctx is done; the returned function stops it and waits.
func reloadOnHUP(ctx context.Context, ks *auth.KeyStore, log *slog.Logger) (stop func()) {
	if ks == nil {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				if err := ks.Reload(); err != nil {
					log.Error("API keys not reloaded; the keys in use stay", "err", err)
					continue
				}
				log.Info("API keys reloaded", "keys", ks.Len())
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		cancel()
		wg.Wait()
	}
}

// loadTLS returns the server TLS config of a certificate and key, or nil when neither is set.
func loadTLS(cert, key string) (*tls.Config, error) {
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	kp, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	// HTTP/1.1 only: WebSocket upgrades need it (no HTTP/2 on this listener).
	return &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}, nil
}
