package main

// Browser tests of the dashboard: real headless Chromium, driven with chromedp, against a full node (the
// in-process Kafka-protocol broker, the simulated exchange writing into it, the feed reading it over TCP).
// Without Chromium they skip, except with CI=true, where a missing browser fails: scripts/test.sh installs it
// with scripts/install-chromium.sh. DEPTHCAST_CHROMIUM names another binary. DEPTHCAST_SCREENSHOT=1 writes
// the screenshots to docs/ (dashboard.png and dashboard-phone.png), DEPTHCAST_SCREENSHOT_DIR=DIR to DIR;
// otherwise they go to a temporary directory, so a test run leaves the tree as it was.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/sim"
	"github.com/shopspring/decimal"
)

// chromiumPath finds the browser, or skips the test (fails it with CI=true).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DEPTHCAST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found and CI=true: install it with scripts/install-chromium.sh")
	}
	t.Skip("no Chromium found: scripts/install-chromium.sh installs it (with CI=true this test fails instead)")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile (chromedp makes a new user data directory and
// removes it) and one tab of the given size. It is stopped at the end of the test.
func newBrowser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser, which then lives as long as ctx: no timeout on this one.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// js evaluates a JavaScript expression in the page.
func js[T any](t *testing.T, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a boolean expression until it holds, failing after waitTimeout with the page's state.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !js[bool](t, ctx, expr) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%s); page: %s", what, expr, pageState(t, ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pageState is what the page shows of its connection and checks, for failure messages.
func pageState(t *testing.T, ctx context.Context) string {
	t.Helper()
	return js[string](t, ctx, `JSON.stringify({state: document.getElementById("conn-state").textContent,
		symbol: document.getElementById("sym-title").textContent, seq: document.getElementById("book-seq").textContent,
		ok: document.getElementById("checksum-ok").textContent, bad: document.getElementById("checksum-bad").textContent,
		reconnects: document.getElementById("reconnects").textContent, error: document.getElementById("last-error").textContent,
		jsErrors: document.body.dataset.jsErrors || "0"})`)
}

// The page's own counters and the filled ladder rows, read from the DOM.
const (
	jsBookSeq      = `Number(document.getElementById("book-seq").textContent)`
	jsChecksumOK   = `Number(document.getElementById("checksum-ok").textContent)`
	jsChecksumBad  = `Number(document.getElementById("checksum-bad").textContent)`
	jsReconnects   = `Number(document.getElementById("reconnects").textContent)`
	jsConnected    = `document.getElementById("conn-state").dataset.state === "connected"`
	jsLadderFilled = `[...document.querySelectorAll("#bids .px")].filter(e => e.textContent !== "").length >= 10 &&
		[...document.querySelectorAll("#asks .px")].filter(e => e.textContent !== "").length >= 10`
	jsVerifiedBySymbol = `Object.fromEntries([...document.querySelectorAll("#symbol-rows tr")].map(r => [r.dataset.symbol, Number(r.children[4].textContent)]))`
	jsNoOverflowX      = `document.documentElement.scrollWidth <= window.innerWidth &&
		[...document.querySelectorAll(".panel, .top, .foot")].every(e => e.getBoundingClientRect().right <= window.innerWidth + 0.5)`
)

func checkNoJSErrors(t *testing.T, ctx context.Context) {
	t.Helper()
	if n := js[string](t, ctx, `document.body.dataset.jsErrors || "0"`); n != "0" {
		t.Errorf("the page had %s script errors: %s", n, pageState(t, ctx))
	}
}

// screenshot captures the page and writes it to docs/name when DEPTHCAST_SCREENSHOT=1, else to a temporary
// directory; it checks that the image is a PNG of the viewport's size.
func screenshot(t *testing.T, ctx context.Context, name string, width, height int) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	img, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if cfg.Width != width || cfg.Height != height {
		t.Errorf("screenshot is %dx%d, want %dx%d", cfg.Width, cfg.Height, width, height)
	}
	dir := t.TempDir()
	if d := os.Getenv("DEPTHCAST_SCREENSHOT_DIR"); d != "" {
		dir = d
	} else if os.Getenv("DEPTHCAST_SCREENSHOT") == "1" {
		dir = filepath.Join("..", "..", "docs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// checkBookModule checks the page's own CRC-32 and decimal ordering (feed/web/book.js, in the browser)
// against Go's hash/crc32 and shopspring/decimal.
func checkBookModule(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, s := range []string{"", "|", "43000.1:2;42999:1.5;|43000.2:1;", strings.Repeat("0.00000001:123456.789;", 10) + "|" + strings.Repeat("99999999.5:0.1;", 10)} {
		got := js[uint32](t, ctx, fmt.Sprintf(`import("/ui/book.js").then(m => m.crc32(%q))`, s), chromedp.EvalAwaitPromise)
		if want := crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("the page's crc32(%q) = %d, want %d", s, got, want)
		}
	}
	prices := []string{"10", "9.99", "10.01", "0.5", "0.49", "0.51", "100", "0.0015", "43000.1", "42999", "43000.10001"}
	got := js[[]string](t, ctx, fmt.Sprintf(`import("/ui/book.js").then(m => %s.sort(m.cmpDec))`, mustJSON(prices)), chromedp.EvalAwaitPromise)
	want := slices.Clone(prices)
	slices.SortFunc(want, func(a, b string) int { return decimal.RequireFromString(a).Cmp(decimal.RequireFromString(b)) })
	if !slices.Equal(got, want) {
		t.Errorf("the page orders prices %v, want %v", got, want)
	}
}

// runExchange writes the simulated exchange's flow into the broker until the test ends.
func runExchange(t *testing.T, brokers []string, cfg sim.Config, rate float64) {
	t.Helper()
	cfg.Clock = time.Now
	x, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := sim.Run(ctx, x, sim.WriterConfig{Brokers: brokers, Topic: topic, Rate: rate, Logger: quietLogger()})
		if err != nil && ctx.Err() == nil {
			t.Errorf("simulated exchange: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// The dashboard in a real browser: it connects, fills the ladder, keeps receiving updates whose checksums it
// verifies (none mismatch), switches symbols, shows the feed's health, and after the node is replaced by a
// new one on the same port it reconnects, resumes and streams again. It lays out at 1280×720 without
// scrolling and at phone width without horizontal overflow.
func TestDashboardBrowser(t *testing.T) {
	brokers := newCluster(t)
	runExchange(t, brokers, sim.Config{Symbols: 8, Levels: 40, Seed: 11}, 400)
	nodeCfg := func(listen string) node.Config {
		return node.Config{Listen: listen, ShutdownTimeout: 5 * time.Second,
			Ingest: ingest.Config{Brokers: brokers, Topic: topic, Start: kafkatopic.Earliest}}
	}
	m := nodetest.Start(t, nodeCfg("127.0.0.1:0"))
	addr := m.Addr()
	waitFor(t, "8 symbols", func() bool { return len(symbolsStatus(t, addr)) == 8 })

	const width, height = 1280, 720
	ctx := newBrowser(t, width, height)
	nav, cancel := context.WithTimeout(ctx, waitTimeout)
	if err := chromedp.Do(nav, chromedp.Navigate("http://"+addr+"/#BTC-USD")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	cancel()

	waitJS(t, ctx, "the page to connect", jsConnected)
	checkBookModule(t, ctx)
	waitJS(t, ctx, "the BTC-USD ladder to fill", `document.getElementById("sym-title").textContent === "BTC-USD" && `+jsLadderFilled)
	seq := js[int](t, ctx, jsBookSeq)
	waitJS(t, ctx, "updates after seq "+strconv.Itoa(seq), fmt.Sprintf("%s > %d", jsBookSeq, seq))
	waitJS(t, ctx, "100 verified checksums", jsChecksumOK+" >= 100")
	waitJS(t, ctx, "trades on the tape", `document.querySelectorAll("#trade-rows tr.buy, #trade-rows tr.sell").length > 0`)
	waitJS(t, ctx, "the feed health panel", `Number(document.getElementById("st-connections").textContent) >= 1 &&
		Number(document.getElementById("st-live").textContent) === 8`)

	// Pick another symbol in the markets list, then come back.
	for _, sym := range []string{"ETH-USD", "BTC-USD"} {
		c, cancel := context.WithTimeout(ctx, waitTimeout)
		err := chromedp.Do(c, chromedp.Click(fmt.Sprintf(`#symbol-rows tr[data-symbol=%q]`, sym)))
		cancel()
		if err != nil {
			t.Fatalf("click %s: %v", sym, err)
		}
		waitJS(t, ctx, sym+" selected with its ladder", fmt.Sprintf(`document.getElementById("sym-title").textContent === %q && location.hash === "#%s" && %s`, sym, sym, jsLadderFilled))
	}
	if !js[bool](t, ctx, jsNoOverflowX+` && document.documentElement.scrollHeight <= window.innerHeight`) {
		t.Errorf("at %dx%d the page scrolls: scroll size %s", width, height, js[string](t, ctx, `document.documentElement.scrollWidth + "x" + document.documentElement.scrollHeight`))
	}
	// Let the 1-second rates and the 2-second health poll come in before the picture is taken.
	waitJS(t, ctx, "update rates", `Number(document.getElementById("book-rate").textContent) > 0 && document.getElementById("st-rate").textContent !== "—"`)
	screenshot(t, ctx, "dashboard.png", width, height)
	if bad := js[int](t, ctx, jsChecksumBad); bad != 0 {
		t.Errorf("%d checksum mismatches before the restart: %s", bad, pageState(t, ctx))
	}

	// Replace the node with a new one on the same port: the page reconnects and resumes.
	before := js[int](t, ctx, jsBookSeq)
	reconnects := js[int](t, ctx, jsReconnects)
	verified := js[string](t, ctx, "JSON.stringify("+jsVerifiedBySymbol+")")
	m.Stop()
	waitJS(t, ctx, "the page to notice the node is gone", `document.getElementById("conn-state").dataset.state !== "connected"`)
	nodetest.Start(t, nodeCfg(addr))
	waitJS(t, ctx, "the page to reconnect", jsConnected+" && "+jsReconnects+" > "+strconv.Itoa(reconnects))
	if n := js[string](t, ctx, `document.getElementById("conn-state").dataset.resumed`); n == "0" || n == "" {
		t.Errorf("the reconnect resumed %q books, want every book it held", n)
	}
	waitJS(t, ctx, "updates from the new node past seq "+strconv.Itoa(before), fmt.Sprintf("%s > %d && %s", jsBookSeq, before, jsLadderFilled))
	// Every symbol streams again, not only the one on screen: each one's verified checksums go up.
	waitJS(t, ctx, "every symbol to verify new checksums", fmt.Sprintf(`(() => { const was = JSON.parse(%q), now = %s;
		return Object.keys(was).length === 8 && Object.keys(was).every(s => now[s] > was[s]); })()`, verified, jsVerifiedBySymbol))
	ok := js[int](t, ctx, jsChecksumOK)
	waitJS(t, ctx, "more verified checksums", fmt.Sprintf("%s > %d", jsChecksumOK, ok+20))
	if bad := js[int](t, ctx, jsChecksumBad); bad != 0 {
		t.Errorf("%d checksum mismatches: %s", bad, pageState(t, ctx))
	}

	// Phone width: one column, nothing wider than the screen, the ladder still fills.
	c, cancel := context.WithTimeout(ctx, waitTimeout)
	err := chromedp.Do(c, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Reload())
	cancel()
	if err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	waitJS(t, ctx, "the page to connect at phone width", jsConnected+" && "+jsLadderFilled)
	waitJS(t, ctx, "the page to be 390 px wide", `window.innerWidth === 390`)
	if !js[bool](t, ctx, jsNoOverflowX) {
		t.Errorf("horizontal overflow at 390 px: scroll width %d; widest: %s", js[int](t, ctx, `document.documentElement.scrollWidth`),
			js[string](t, ctx, `[...document.querySelectorAll("body *")].map(e => [e.getBoundingClientRect().right, e.id || e.className]).sort((a, b) => b[0] - a[0]).slice(0, 3).join(" ")`))
	}
	screenshot(t, ctx, "dashboard-phone.png", 780, 1688)
	checkNoJSErrors(t, ctx)
	if bad := js[int](t, ctx, jsChecksumBad); bad != 0 {
		t.Errorf("%d checksum mismatches at the end: %s", bad, pageState(t, ctx))
	}
	var exitErr *exec.ExitError
	if err := chromedp.Cancel(ctx); err != nil && !errors.As(err, &exitErr) {
		t.Errorf("closing Chromium: %v", err)
	}
}
