package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/schema"
)

// ladderFrame is everything one screen of the tail ladder shows. formatLadder turns it into text and does
// nothing else, so the layout is tested on fixed frames.
type ladderFrame struct {
	Symbol string
	// Conn is the connection's last state change; a zero value means connected.
	Conn client.StateEvent
	// Now is the time the frame is drawn (for how long ago the connection was lost).
	Now time.Time
	// LostAt is when the connection was lost (zero while connected).
	LostAt time.Time
	Book   client.BookView
	// Prev is the book of the previous frame: levels whose size differs from it are highlighted.
	Prev   client.BookView
	Trades []client.TradeEvent // newest last
	// Color turns on ANSI colours and highlights.
	Color bool
}

// ANSI sequences of the ladder.
const (
	ansiHome    = "\x1b[H\x1b[2J" // cursor home, clear screen
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiDim     = "\x1b[2m"
	ansiReverse = "\x1b[7m"
	ansiBold    = "\x1b[1m"
	ansiReset   = "\x1b[0m"
)

// decCols is the width of a column of decimals aligned on the point: integer digits and fraction digits.
type decCols struct{ intw, fracw int }

func (c *decCols) fit(s string) {
	i, f, _ := strings.Cut(s, ".")
	c.intw = max(c.intw, len(i))
	c.fracw = max(c.fracw, len(f))
}

// width is the column's width in characters.
func (c decCols) width() int {
	if c.fracw == 0 {
		return c.intw
	}
	return c.intw + 1 + c.fracw
}

// format right-aligns s's integer part and pads its fraction with spaces, so the points line up.
func (c decCols) format(s string) string {
	i, f, dot := strings.Cut(s, ".")
	out := strings.Repeat(" ", max(0, c.intw-len(i))) + i
	if c.fracw == 0 {
		return out
	}
	if dot {
		out += "." + f
	} else {
		out += " "
	}
	return out + strings.Repeat(" ", c.fracw-len(f))
}

// sumDecimals returns the running totals of the levels' sizes, exact in the finest scale among them.
func sumDecimals(levels []schema.Level) []string {
	var exp uint8
	for _, l := range levels {
		exp = max(exp, l.Size.Exp)
	}
	out := make([]string, len(levels))
	var total int64
	exact := true
	var ftotal float64
	for i, l := range levels {
		if c, ok := l.Size.Rescale(exp); ok && exact && total <= math.MaxInt64-c {
			total += c
			ftotal += float64(c) / float64(schema.Pow10(exp))
			out[i] = string(schema.AppendDecimal(nil, total, exp))
			continue
		}
		exact = false
		ftotal += decFloat(l.Size)
		out[i] = fmt.Sprintf("%.*f", exp, ftotal)
	}
	return out
}

func decFloat(d schema.Decimal) float64 {
	return float64(d.Coef) / math.Pow10(int(d.Exp))
}

// midSpread returns the mid (exact, one decimal finer than the prices), the spread and the spread in basis
// points of the mid, or ok false when a side is empty.
func midSpread(v client.BookView) (mid, spread, bps string, ok bool) {
	b, okb := v.BestBid()
	a, oka := v.BestAsk()
	if !okb || !oka {
		return "", "", "", false
	}
	exp := max(a.Price.Exp, b.Price.Exp)
	ac, ok1 := a.Price.Rescale(exp)
	bc, ok2 := b.Price.Rescale(exp)
	s, _ := v.Spread()
	spread = s.String()
	m := (decFloat(a.Price) + decFloat(b.Price)) / 2
	if ok1 && ok2 && exp < 18 && ac < math.MaxInt64/10 && bc < math.MaxInt64/10 {
		mid = string(schema.AppendDecimal(nil, (ac+bc)*5, exp+1))
	} else {
		mid = fmt.Sprintf("%g", m)
	}
	if m > 0 {
		bps = fmtBps(decFloat(s) / m * 1e4)
	} else {
		bps = "-"
	}
	return mid, spread, bps, true
}

// fmtBps writes basis points with two decimals, or two significant digits below 1 bp: a one-tick spread
// on a large price (0.01 at 43000 is 0.0023 bp) reads as what it is, not as 0.00.
func fmtBps(v float64) string {
	if v <= 0 || v >= 1 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.*f", 1-int(math.Floor(math.Log10(v))), v)
}

// connLine describes the connection for the header: empty while connected, otherwise a plain sentence.
func connLine(f ladderFrame) string {
	switch f.Conn.State {
	case client.StateConnected:
		return ""
	case client.StateConnecting:
		if f.Conn.Attempt == 0 && f.LostAt.IsZero() {
			return "CONNECTING"
		}
		return fmt.Sprintf("DISCONNECTED for %s, dialling again (attempt %d)", f.Now.Sub(f.LostAt).Round(time.Second), f.Conn.Attempt)
	case client.StateWaiting:
		s := fmt.Sprintf("DISCONNECTED for %s, retrying in %s (attempt %d)", f.Now.Sub(f.LostAt).Round(time.Second), f.Conn.Delay.Round(100*time.Millisecond), f.Conn.Attempt)
		if f.Conn.Err != nil {
			s += ": " + f.Conn.Err.Error()
		}
		return s
	case client.StateClosed:
		return "DISCONNECTED (closed)"
	}
	return ""
}

// formatLadder renders one screen: a header (symbol, status, seq, time, connection), mid and spread in
// bps, then asks above (best lowest) and bids below (best first) with price, size and cumulative size, all
// aligned on the decimal point; sizes that changed since the previous frame are highlighted. While
// disconnected the book shown is the last one received, dimmed, under a DISCONNECTED line.
func formatLadder(f ladderFrame) string {
	v := f.Book
	paint := func(code, s string) string {
		if !f.Color || code == "" {
			return s
		}
		return code + s + ansiReset
	}
	var sb strings.Builder
	conn := connLine(f)
	status := strings.ToUpper(string(v.Status))
	if status == "" {
		status = "WAITING FOR SNAPSHOT"
	}
	if v.Seq == 0 {
		fmt.Fprintf(&sb, "%s  %s\n", paint(ansiBold, f.Symbol), status)
	} else {
		fmt.Fprintf(&sb, "%s  %s  seq %d  %s\n", paint(ansiBold, f.Symbol), status, v.Seq, fmtTime(v.Time))
	}
	if conn != "" {
		sb.WriteString(paint(ansiYellow+ansiReverse, conn) + "\n")
		if v.Seq != 0 {
			sb.WriteString("last book received, not updating:\n")
		}
	} else if v.Status == client.StatusStale {
		sb.WriteString(paint(ansiYellow, "the feed marked this book stale (a gap upstream); a snapshot follows") + "\n")
	}
	if mid, spread, bps, ok := midSpread(v); ok {
		fmt.Fprintf(&sb, "mid %s  spread %s (%s bps)\n", mid, spread, bps)
	} else {
		sb.WriteString("mid -  spread -\n")
	}
	sb.WriteString("\n")

	askTot, bidTot := sumDecimals(v.Asks), sumDecimals(v.Bids)
	var pc, sc, tc decCols
	pc.fit("PRICE")
	for i, l := range v.Asks {
		pc.fit(l.Price.String())
		sc.fit(l.Size.String())
		tc.fit(askTot[i])
	}
	for i, l := range v.Bids {
		pc.fit(l.Price.String())
		sc.fit(l.Size.String())
		tc.fit(bidTot[i])
	}
	sw, tw := max(sc.width(), len("SIZE")), max(tc.width(), len("TOTAL"))
	sc.intw += sw - sc.width()
	tc.intw += tw - tc.width()
	pw := max(pc.width(), len("PRICE"))
	pc.intw += pw - pc.width()

	prev := map[string]string{}
	for _, side := range [][]schema.Level{f.Prev.Bids, f.Prev.Asks} {
		for _, l := range side {
			prev[l.Price.String()] = l.Size.String()
		}
	}
	hasPrev := f.Prev.Seq != 0
	stale := conn != "" || v.Status == client.StatusStale
	row := func(side string, l schema.Level, total, color string) {
		p, s := l.Price.String(), l.Size.String()
		size := sc.format(s)
		if was, ok := prev[p]; hasPrev && (!ok || was != s) && !stale && f.Color {
			size = ansiReverse + size + ansiReset + color // back to the row's colour after the highlight
		}
		line := fmt.Sprintf("%-3s  %s  %s  %s", side, pc.format(p), size, tc.format(total))
		if stale {
			color = ansiDim
		}
		sb.WriteString(paint(color, line) + "\n")
	}
	sb.WriteString(paint(ansiDim, fmt.Sprintf("     %*s  %*s  %*s", pw, "PRICE", sw, "SIZE", tw, "TOTAL")) + "\n")
	for i := len(v.Asks) - 1; i >= 0; i-- {
		row("ask", v.Asks[i], askTot[i], ansiRed)
	}
	sb.WriteString(paint(ansiDim, "     "+strings.Repeat("-", pw+sw+tw+4)) + "\n")
	for i, l := range v.Bids {
		row("bid", l, bidTot[i], ansiGreen)
	}
	if len(f.Trades) > 0 {
		sb.WriteString("\ntrades\n")
		var tp, ts decCols
		for _, tr := range f.Trades {
			tp.fit(tr.Price.String())
			ts.fit(tr.Size.String())
		}
		for i := len(f.Trades) - 1; i >= 0; i-- {
			tr := f.Trades[i]
			color := ansiGreen
			if tr.Side == "sell" {
				color = ansiRed
			}
			sb.WriteString(paint(color, fmt.Sprintf("%s  %-4s  %s @ %s", fmtTime(tr.Time), tr.Side, ts.format(tr.Size.String()), tp.format(tr.Price.String()))) + "\n")
		}
	}
	return sb.String()
}
