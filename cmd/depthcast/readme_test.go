package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README holds up for a newcomer: every message type the feed sends is shown, the required fields of a
// /replay request are named, the tools it suggests are the project's own or installable from a package
// manager, and the test script has the quick mode the README offers, with the durations stated.
func TestREADMEForNewcomers(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, typ := range []string{"subscribed", "unsubscribed", "error", "snapshot", "update", "trade", "status", "heartbeat", "pong",
		"replay_started", "replay_end"} {
		if !strings.Contains(readme, `{"type":"`+typ+`"`) {
			t.Errorf("no example of a %q message in the README", typ)
		}
	}
	if !strings.Contains(readme, "- Required: `op` and a non-empty `symbols`") {
		t.Error("the README's /replay section does not name the required fields")
	}
	for _, tool := range []string{"websocat", "wscat"} {
		if strings.Contains(readme, tool) {
			t.Errorf("the README suggests %s: point to the project's own tail or to a client from a package manager", tool)
		}
	}
	script, err := os.ReadFile("../../scripts/test.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), `"${1:-}" = "--quick"`) {
		t.Error("scripts/test.sh has no --quick mode")
	}
	for _, want := range []string{
		`(?m)^bash scripts/test\.sh --quick +# .*about \d+ minutes$`,
		`(?m)^bash scripts/test\.sh +# the whole test suite .*about \d+ minutes$`,
	} {
		if !regexp.MustCompile(want).MatchString(readme) {
			t.Errorf("the README's first commands do not match %s", want)
		}
	}
}
