package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/sim"
	"github.com/twmb/franz-go/pkg/kfake"
)

// click clicks the element sel.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(c, chromedp.Click(sel)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// checkGroupModule checks the page's grouping and percentile functions (feed/web/group.js) on known input.
func checkGroupModule(t *testing.T, ctx context.Context) {
	t.Helper()
	for expr, want := range map[string]string{
		// nearest rank: of 1..20 the 95th percentile is 19 (19 of 20 samples at or below it), not the maximum
		`m.percentile([...Array(20).keys()].map(i => 20 - i), 0.95)`: "19",
		`m.percentile([5], 0.95)`:                                    "5",
		`m.percentile([...Array(100).keys()], 0.95)`:                 "94",
		`m.groupSteps(1).join(",")`:                                  "0.1,1,10,100,1000",
		`m.groupSteps(0).join(",")`:                                  "1,10,100,1000",
		`m.groupSteps(8).join(",")`:                                  "0.00000001,0.0000001,0.000001,0.00001,0.0001,0.001",
		`m.groupSide([{p:"100.9",sn:1},{p:"100.1",sn:2},{p:"99.9",sn:4}], "1", true, 1, 2).map(l => l.p + "x" + l.s).join(" ")`:   "100.0x3.00 99.0x4.00",
		`m.groupSide([{p:"100.1",sn:1},{p:"100.9",sn:2},{p:"101.1",sn:4}], "1", false, 1, 0).map(l => l.p + "x" + l.s).join(" ")`: "101.0x3 102.0x4",
		`m.groupSide([{p:"43000.5",sn:1},{p:"42990",sn:2}], "10", true, 1, 1).map(l => l.p + "x" + l.s).join(" ")`:                "43000.0x1.0 42990.0x2.0",
		// a side cut at its view's depth loses its farthest bucket, which may lack levels past the cut, unless
		// the buckets are single prices (the tick) or it is the only one
		`m.groupSide([{p:"100.9",sn:1},{p:"100.1",sn:2},{p:"99.9",sn:4}], "1", true, 1, 0, true).map(l => l.p + "x" + l.s).join(" ")`: "100.0x3",
		`m.groupSide([{p:"100.9",sn:1},{p:"100.8",sn:2}], "0.1", true, 1, 0, true).map(l => l.p + "x" + l.s).join(" ")`:               "100.9x1 100.8x2",
		`m.groupSide([{p:"100.9",sn:1},{p:"100.1",sn:2}], "1", true, 1, 0, true).map(l => l.p + "x" + l.s).join(" ")`:                 "100.0x3",
		`String(m.notional([{p:"10.5",sn:2},{p:"10",sn:1}]))`:                                                                         "31",
	} {
		got := js[string](t, ctx, fmt.Sprintf(`import("/ui/group.js").then(m => String(%s))`, expr), chromedp.EvalAwaitPromise)
		if got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
}

const (
	jsSelected  = `document.getElementById("sym-title").textContent`
	jsVisibleOf = `(sel) => [...document.querySelectorAll(sel)].filter(e => e.offsetParent !== null)`
)

// The trader's view in a real browser: BTC-USD is selected with no symbol in the address, the symbol
// search filters the markets and Enter picks the match, the grouping choices follow the symbol's tick and
// regroup the ladder into whole buckets, notional totals and the split feed/render latency are shown, the
// depth chart answers the pointer, the ops panels hide, phone width shows one panel per tab, and when the
// broker goes away the header's mid, spread and last are dimmed as stale.
func TestDashboardTraderView(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	x, err := sim.New(sim.Config{Symbols: 8, Levels: 40, Seed: 5, Clock: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	xctx, stopExchange := context.WithCancel(context.Background())
	exchangeDone := make(chan error, 1)
	go func() {
		exchangeDone <- sim.Run(xctx, x, sim.WriterConfig{Brokers: brokers, Topic: topic, Rate: 400, Logger: quietLogger()})
	}()
	stopX := func() {
		stopExchange()
		if err := <-exchangeDone; err != nil && xctx.Err() == nil {
			t.Errorf("simulated exchange: %v", err)
		}
	}
	t.Cleanup(func() {
		if xctx.Err() == nil {
			stopX()
		}
	})
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second,
		Ingest: ingest.Config{Brokers: brokers, Topic: topic, Start: kafkatopic.Earliest, PollInterval: 100 * time.Millisecond, OutageTimeout: 2 * time.Second}})
	addr := m.Addr()
	waitFor(t, "8 symbols", func() bool { return len(symbolsStatus(t, addr)) == 8 })

	const width, height = 1280, 720
	ctx := newBrowser(t, width, height)
	nav, cancel := context.WithTimeout(ctx, waitTimeout)
	if err := chromedp.Do(nav, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	cancel()
	waitJS(t, ctx, "the page to connect", jsConnected)
	checkGroupModule(t, ctx)
	waitJS(t, ctx, "BTC-USD selected at start", jsSelected+` === "BTC-USD" && location.hash === "#BTC-USD" && `+jsLadderFilled)

	// Search: typing filters the markets list, Enter selects the match.
	js[bool](t, ctx, `(() => { const i = document.getElementById("sym-search"); i.focus(); return true; })()`)
	c, cancel := context.WithTimeout(ctx, waitTimeout)
	err = chromedp.Do(c, chromedp.SendKeys("#sym-search", "eth"))
	cancel()
	if err != nil {
		t.Fatalf("type into the search: %v", err)
	}
	waitJS(t, ctx, "the markets filtered to ETH", `(`+jsVisibleOf+`)("#symbol-rows tr").map(r => r.dataset.symbol).join() === "ETH-USD"`)
	c, cancel = context.WithTimeout(ctx, waitTimeout)
	err = chromedp.Do(c, chromedp.SendKeys("#sym-search", "\r"))
	cancel()
	if err != nil {
		t.Fatalf("press Enter in the search: %v", err)
	}
	waitJS(t, ctx, "ETH-USD selected from the search", jsSelected+` === "ETH-USD" && `+jsLadderFilled)
	js[bool](t, ctx, `(() => { const i = document.getElementById("sym-search"); i.value = ""; i.dispatchEvent(new Event("input")); return true; })()`)
	waitJS(t, ctx, "every market listed again", `(`+jsVisibleOf+`)("#symbol-rows tr").length === 8`)

	// Grouping: the choices start at the tick and go up by ten; a coarser one regroups the ladder into
	// whole buckets (bids rounded down, asks up), so there are fewer, distinct rows, each on the increment.
	click(t, ctx, `#symbol-rows tr[data-symbol="BTC-USD"]`)
	waitJS(t, ctx, "BTC-USD selected", jsSelected+` === "BTC-USD" && `+jsLadderFilled)
	steps := js[[]string](t, ctx, `[...document.querySelectorAll("#group option")].map(o => o.value)`)
	if len(steps) < 3 {
		t.Fatalf("grouping choices %v, want the tick and at least two coarser ones", steps)
	}
	tickRows := js[int](t, ctx, `[...document.querySelectorAll("#bids .px")].filter(e => e.textContent).length`)
	// The ladder's cumulative size at its last bid row: at the tick, the top 20 levels.
	const jsBidTotal = `Number([...document.querySelectorAll("#bids .tot")].map(e => e.textContent).filter(Boolean).pop())`
	tickTotal := js[float64](t, ctx, jsBidTotal)
	for i, step := range steps[1:3] {
		js[bool](t, ctx, fmt.Sprintf(`(() => { const s = document.getElementById("group"); s.value = %q; s.dispatchEvent(new Event("change")); return true; })()`, step))
		waitJS(t, ctx, "the ladder grouped by "+step, fmt.Sprintf(`(() => {
			const step = %q;
			const on = (p) => { const q = Number(p) / Number(step); return Math.abs(q - Math.round(q)) < 1e-6; };
			const px = (sel) => [...document.querySelectorAll(sel)].map(e => e.textContent).filter(Boolean);
			const bids = px("#bids .px"), asks = px("#asks .px");
			return bids.length > 0 && asks.length > 0 && bids.every(on) && asks.every(on) &&
				new Set(bids).size === bids.length && new Set(asks).size === asks.length &&
				Number(bids[0]) < Number(asks[asks.length - 1]) && document.getElementById("group").value === step; })()`, step))
		if i == 0 {
			// The selected symbol's book is held deeper than the ladder's 20 rows (the exchange has 40
			// levels a side), so the coarser buckets gather the levels past the 20th: the bid side shown
			// holds far more than the 20 levels the tick showed.
			waitJS(t, ctx, "the grouped ladder gathering more than the top 20 levels", fmt.Sprintf(
				`Number(document.getElementById("book").dataset.levels.split(",")[0]) > 20 && %s > 1.3 * %v`, jsBidTotal, tickTotal))
		}
	}
	if n := js[int](t, ctx, `[...document.querySelectorAll("#bids .px")].filter(e => e.textContent).length`); n >= tickRows {
		t.Errorf("grouped by %s the ladder has %d bid rows, by the tick %d: want fewer", steps[2], n, tickRows)
	}
	// The grouping is per symbol: ETH-USD still shows its tick.
	click(t, ctx, `#symbol-rows tr[data-symbol="ETH-USD"]`)
	waitJS(t, ctx, "ETH-USD at its tick", jsSelected+` === "ETH-USD" && document.getElementById("group").selectedIndex === 0`)
	click(t, ctx, `#symbol-rows tr[data-symbol="BTC-USD"]`)
	waitJS(t, ctx, "BTC-USD keeps its grouping", fmt.Sprintf(`%s === "BTC-USD" && document.getElementById("group").value === %q`, jsSelected, steps[2]))

	// Notional totals, the split latency, and the depth chart's hover readout.
	waitJS(t, ctx, "notional totals", `/\d/.test(document.getElementById("bid-notional").textContent) && /\d/.test(document.getElementById("ask-notional").textContent) &&
		[...document.querySelectorAll("#bids .nt")].some(e => /\d/.test(e.textContent))`)
	waitJS(t, ctx, "feed and render latency", `/^\d+(\.\d)? ms · p95 \d+(\.\d)? ms$/.test(document.getElementById("latency-feed").textContent) &&
		/^\d+(\.\d)? ms · p95 \d+(\.\d)? ms$/.test(document.getElementById("latency-render").textContent)`)
	js[bool](t, ctx, `(() => { const c = document.getElementById("depth-canvas"), r = c.getBoundingClientRect();
		c.dispatchEvent(new MouseEvent("mousemove", {clientX: r.left + r.width * 0.8, clientY: r.top + r.height / 2, bubbles: true})); return true; })()`)
	waitJS(t, ctx, "the depth readout under the pointer", `/asks [\d.]+ · [\d,]+ notional/.test(document.getElementById("depth-readout").textContent)`)
	if !js[bool](t, ctx, jsNoOverflowX+` && document.documentElement.scrollHeight <= window.innerHeight`) {
		t.Errorf("at %dx%d the page scrolls", width, height)
	}
	// The picture shows the first grouping above the tick, which keeps several rows on the simulated book.
	js[bool](t, ctx, fmt.Sprintf(`(() => { const s = document.getElementById("group"); s.value = %q; s.dispatchEvent(new Event("change")); return true; })()`, steps[1]))
	waitJS(t, ctx, "the ladder grouped by "+steps[1]+" again", fmt.Sprintf(`document.getElementById("group").value === %q && [...document.querySelectorAll("#bids .px")].filter(e => e.textContent).length > 2`, steps[1]))
	// The health panel polls every 2 s: let it show this page's connection before the picture is taken.
	waitJS(t, ctx, "the feed health panel", `Number(document.getElementById("st-connections").textContent) >= 1`)
	screenshot(t, ctx, "dashboard-grouped.png", width, height)
	// The same view with a search typed: the markets filtered beside the grouped ladder.
	c, cancel = context.WithTimeout(ctx, waitTimeout)
	err = chromedp.Do(c, chromedp.SendKeys("#sym-search", "o"))
	cancel()
	if err != nil {
		t.Fatalf("type into the search: %v", err)
	}
	waitJS(t, ctx, "the markets filtered to names with an o", `(`+jsVisibleOf+`)("#symbol-rows tr").map(r => r.dataset.symbol).join() === "DOGE-USD,SOL-USD"`)
	screenshot(t, ctx, "dashboard-search.png", width, height)
	js[bool](t, ctx, `(() => { const i = document.getElementById("sym-search"); i.value = ""; i.dispatchEvent(new Event("input")); return true; })()`)

	// Ops panels hide and come back.
	click(t, ctx, "#ops-toggle")
	waitJS(t, ctx, "the ops panels hidden", `document.querySelector(".health").offsetParent === null && document.querySelector(".book-meta").offsetParent === null &&
		document.querySelector("#symbol-rows tr").children[2].offsetParent === null`)
	click(t, ctx, "#ops-toggle")
	waitJS(t, ctx, "the ops panels shown", `document.querySelector(".health").offsetParent !== null`)

	// Phone width: tabs, one panel at a time.
	c, cancel = context.WithTimeout(ctx, waitTimeout)
	err = chromedp.Do(c, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Reload())
	cancel()
	if err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	waitJS(t, ctx, "the book tab at phone width", `window.innerWidth === 390 && `+jsConnected+` && `+jsLadderFilled+` &&
		document.getElementById("tabs").offsetParent !== null && document.querySelector(".depth").offsetParent === null`)
	if !js[bool](t, ctx, jsNoOverflowX) {
		t.Errorf("horizontal overflow at 390 px")
	}
	screenshot(t, ctx, "dashboard-phone-book.png", 780, 1688)
	click(t, ctx, `#tabs button[data-tab="depth"]`)
	waitJS(t, ctx, "the depth tab", `document.querySelector(".depth").offsetParent !== null && document.querySelector(".book").offsetParent === null`)
	screenshot(t, ctx, "dashboard-phone-depth.png", 780, 1688)
	click(t, ctx, `#tabs button[data-tab="markets"]`)
	c, cancel = context.WithTimeout(ctx, waitTimeout)
	err = chromedp.Do(c, chromedp.SendKeys("#sym-search", "o"))
	cancel()
	if err != nil {
		t.Fatalf("type into the search at phone width: %v", err)
	}
	waitJS(t, ctx, "the markets tab filtered", `document.querySelector(".markets").offsetParent !== null && `+
		`(`+jsVisibleOf+`)("#symbol-rows tr").map(r => r.dataset.symbol).join() === "DOGE-USD,SOL-USD"`)
	screenshot(t, ctx, "dashboard-phone-search.png", 780, 1688)
	click(t, ctx, `#tabs button[data-tab="book"]`)

	// Stale: the broker goes away, the feed marks the books stale, the header dims mid, spread and last.
	if js[bool](t, ctx, `document.getElementById("instrument").classList.contains("stale")`) {
		t.Fatalf("the header is dimmed while the book is live: %s", pageState(t, ctx))
	}
	stopX()
	cluster.Close()
	waitJS(t, ctx, "mid, spread and last dimmed as stale", `document.getElementById("book-status").textContent === "STALE" &&
		document.getElementById("instrument").classList.contains("stale") &&
		["mid", "spread", "last"].every(id => Number(getComputedStyle(document.getElementById(id)).opacity) < 0.6)`)
	screenshot(t, ctx, "dashboard-phone-stale.png", 780, 1688)
	checkNoJSErrors(t, ctx)
	if bad := js[int](t, ctx, jsChecksumBad); bad != 0 {
		t.Errorf("%d checksum mismatches: %s", bad, pageState(t, ctx))
	}
}
