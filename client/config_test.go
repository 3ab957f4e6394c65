package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/depthcast/depthcast/client"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  client.Config
		ok   bool
	}{
		{"zero value: defaults", client.Config{}, true},
		{"negative handshake timeout", client.Config{HandshakeTimeout: -time.Second}, false},
		{"tiny stale timeout", client.Config{StaleTimeout: time.Millisecond}, false},
		{"max backoff under min", client.Config{MinBackoff: time.Second, MaxBackoff: 10 * time.Millisecond}, false},
		{"min backoff alone above the default max", client.Config{MinBackoff: time.Minute}, true},
		{"negative attempts", client.Config{MaxAttempts: -1}, false},
		{"view depth over 1000", client.Config{ViewDepth: 1001}, false},
		{"negative event buffer", client.Config{EventBuffer: -1}, false},
		{"all set", client.Config{HandshakeTimeout: time.Second, StaleTimeout: time.Second, MinBackoff: time.Millisecond, MaxBackoff: time.Second, MaxAttempts: 3, ViewDepth: 25, EventBuffer: 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, client.ErrConfig) {
				t.Errorf("Validate() = %v, does not wrap ErrConfig", err)
			}
		})
	}
	d := client.Config{}.WithDefaults()
	if d.StaleTimeout != 15*time.Second || d.ViewDepth != 10 || d.MinBackoff != client.DefaultMinBackoff || d.MaxBackoff != client.DefaultMaxBackoff {
		t.Errorf("defaults: %+v", d)
	}
}

func TestBookOptionsValidate(t *testing.T) {
	tests := []struct {
		opts client.BookOptions
		ok   bool
	}{
		{client.BookOptions{}, true},
		{client.BookOptions{Depth: 1}, true},
		{client.BookOptions{Depth: 1000, IntervalMS: 60000}, true},
		{client.BookOptions{IntervalMS: 10}, true},
		{client.BookOptions{Depth: 1001}, false},
		{client.BookOptions{Depth: -1}, false},
		{client.BookOptions{IntervalMS: 9}, false},
		{client.BookOptions{IntervalMS: -10}, false},
	}
	for _, tc := range tests {
		if err := tc.opts.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", tc.opts, err, tc.ok)
		}
	}
}

func TestCloseErrorHelpers(t *testing.T) {
	tests := []struct {
		code                                     int
		goingAway, retryLater, policy, clientBad bool
	}{
		{1000, false, false, false, false},
		{1001, true, false, false, false},
		{1002, false, false, false, true},
		{1003, false, false, false, true},
		{1007, false, false, false, true},
		{1008, false, false, true, true},
		{1009, false, false, false, true},
		{1011, false, false, false, false},
		{1013, false, true, false, false},
	}
	for _, tc := range tests {
		e := &client.CloseError{Code: tc.code, Reason: "r"}
		if e.GoingAway() != tc.goingAway || e.RetryLater() != tc.retryLater || e.Policy() != tc.policy || e.ClientFault() != tc.clientBad {
			t.Errorf("%d: GoingAway %v RetryLater %v Policy %v ClientFault %v", tc.code, e.GoingAway(), e.RetryLater(), e.Policy(), e.ClientFault())
		}
	}
	if client.CloseCode(errors.New("x")) != 0 {
		t.Error("CloseCode of a plain error is not 0")
	}
}

func TestSpread(t *testing.T) {
	v := client.BookView{}
	if _, ok := v.Spread(); ok {
		t.Error("spread of an empty book")
	}
}
