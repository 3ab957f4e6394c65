// The depth chart: cumulative size per side around the mid, drawn on a canvas sized to its box and to the
// device's pixel ratio.

// sideTotal returns a side's total size and its largest level.
export function sideTotal(side) {
  let t = 0, m = 0;
  for (const l of side) {
    t += l.sn;
    if (l.sn > m) m = l.sn;
  }
  return [t, m];
}

// niceStep is a round axis step (1, 2 or 5 × 10^k) giving about n intervals over span.
export function niceStep(span, n) {
  const raw = span / Math.max(1, n), p = 10 ** Math.floor(Math.log10(raw)), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

// depthAt is what the chart shows at price x: the side, the cumulative size and notional of the levels
// from the best price out to x, or null between the best bid and ask or beyond the levels shown.
export function depthAt(bids, asks, x) {
  if (!bids.length || !asks.length) return null;
  const bid = x <= parseFloat(bids[0].p), side = bid ? bids : asks;
  if (!bid && x < parseFloat(asks[0].p)) return null;
  let size = 0, value = 0, n = 0;
  for (const l of side) {
    const p = parseFloat(l.p);
    if (bid ? p < x : p > x) break;
    size += l.sn;
    value += l.sn * p;
    n++;
  }
  return n ? { side: bid ? "bid" : "ask", size, value, levels: n } : null;
}

// depthChart binds a chart to canvas; onResize is called when its box changes size, onHover with the
// readout under the pointer (a string, "" when it leaves). It returns the draw function: draw(st, bids,
// asks) with st the symbol's state (its decimals and whether it has a book).
export function depthChart(canvas, onResize, onHover) {
  const ctx2d = canvas.getContext("2d");
  let canvasW = 0, canvasH = 0;
  let last = null, hoverX = -1; // the last drawing's inputs, and the pointer's x in CSS pixels
  const hover = (ev) => {
    const r = canvas.getBoundingClientRect();
    hoverX = ev.clientX - r.left;
    if (last) drawDepth(...last);
  };
  canvas.addEventListener("mousemove", hover);
  canvas.addEventListener("mouseleave", () => {
    hoverX = -1;
    if (last) drawDepth(...last);
  });
  function sizeCanvas() {
    const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
    if (w !== canvas.width || h !== canvas.height) {
      canvas.width = w;
      canvas.height = h;
    }
    canvasW = r.width;
    canvasH = r.height;
  }
  new ResizeObserver(() => {
    sizeCanvas();
    onResize();
  }).observe(canvas.parentElement);

  function drawDepth(st, bids, asks) {
    last = [st, bids, asks];
    if (!canvasW) sizeCanvas();
    const dpr = window.devicePixelRatio || 1, W = canvasW, H = canvasH;
    const g = ctx2d;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    if (!bids.length || !asks.length || W < 40 || H < 40) {
      g.fillStyle = "#4a5361";
      g.font = "12px sans-serif";
      g.textAlign = "center";
      g.fillText(st && !st.hasBook ? "waiting for a snapshot" : "no book", W / 2, H / 2);
      if (onHover) onHover("");
      return;
    }
    const padL = 46, padR = 8, padT = 10, padB = 22;
    const lo = parseFloat(bids[bids.length - 1].p), hi = parseFloat(asks[asks.length - 1].p);
    const bb = parseFloat(bids[0].p), ba = parseFloat(asks[0].p), mid = (bb + ba) / 2;
    const half = Math.max(mid - lo, hi - mid) || 1;
    const x0 = mid - half, x1 = mid + half;
    const [bt] = sideTotal(bids), [at] = sideTotal(asks);
    const ymax = Math.max(bt, at) * 1.08 || 1;
    const X = (p) => padL + ((p - x0) / (x1 - x0)) * (W - padL - padR);
    const Y = (v) => H - padB - (v / ymax) * (H - padT - padB);

    // axes: size on the left, price along the bottom, each on round steps with a grid line per tick
    g.font = "10px 'DejaVu Sans Mono', monospace";
    g.fillStyle = "#7c8694";
    g.strokeStyle = "#1c222b";
    g.lineWidth = 1;
    g.beginPath();
    const ys = niceStep(ymax, 4), sdpAxis = ys >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(ys)));
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (let v = ys; v < ymax; v += ys) {
      const y = Math.round(Y(v)) + 0.5;
      g.moveTo(padL, y);
      g.lineTo(W - padR, y);
      g.fillText(v.toFixed(sdpAxis), padL - 4, y);
    }
    const xs = niceStep(x1 - x0, Math.max(2, Math.floor((W - padL - padR) / 90)));
    const pdpAxis = xs >= 1 ? 0 : Math.min(8, Math.ceil(-Math.log10(xs) - 1e-9));
    g.textAlign = "center";
    g.textBaseline = "top";
    for (let v = Math.ceil(x0 / xs) * xs; v <= x1; v += xs) {
      const x = Math.round(X(v)) + 0.5;
      g.moveTo(x, padT);
      g.lineTo(x, H - padB);
      // a label that would run past the canvas edge is aligned inward instead of cut off
      const label = v.toFixed(pdpAxis), half = g.measureText(label).width / 2;
      g.textAlign = x + half > W ? "right" : x - half < 0 ? "left" : "center";
      g.fillText(label, g.textAlign === "right" ? W - 1 : g.textAlign === "left" ? 1 : x, H - padB + 5);
    }
    g.stroke();
    g.strokeStyle = "#2c3440";
    g.beginPath();
    g.moveTo(padL + 0.5, padT);
    g.lineTo(padL + 0.5, H - padB + 0.5);
    g.lineTo(W - padR, H - padB + 0.5);
    g.stroke();

    const area = (side, sign, stroke, fill) => {
      let cum = 0;
      g.beginPath();
      g.moveTo(X(sign < 0 ? bb : ba), Y(0));
      for (const l of side) {
        const x = X(parseFloat(l.p));
        g.lineTo(x, Y(cum));
        cum += l.sn;
        g.lineTo(x, Y(cum));
      }
      g.lineTo(sign < 0 ? padL : W - padR, Y(cum));
      g.strokeStyle = stroke;
      g.lineWidth = 1.5;
      g.stroke();
      g.lineTo(sign < 0 ? padL : W - padR, Y(0));
      g.closePath();
      g.fillStyle = fill;
      g.fill();
    };
    area(bids, -1, "#0ecb81", "rgba(14,203,129,0.16)");
    area(asks, 1, "#f6465d", "rgba(246,70,93,0.16)");

    // mid line and axis labels
    g.strokeStyle = "#4a5361";
    g.setLineDash([3, 3]);
    g.beginPath();
    g.moveTo(Math.round(X(mid)) + 0.5, padT);
    g.lineTo(Math.round(X(mid)) + 0.5, H - padB);
    g.stroke();
    g.setLineDash([]);
    g.fillStyle = "#7c8694";
    g.textBaseline = "alphabetic";
    g.textAlign = "left";
    g.fillText("bids " + bt.toFixed(Math.min(st.sdp, 3)), padL + 4, padT + 10);
    g.textAlign = "right";
    g.fillText("asks " + at.toFixed(Math.min(st.sdp, 3)), W - padR - 2, padT + 10);

    // hover: a crosshair and the readout of the price under the pointer
    let readout = "";
    if (hoverX >= padL && hoverX <= W - padR) {
      const px = x0 + ((hoverX - padL) / (W - padL - padR)) * (x1 - x0);
      const d = depthAt(bids, asks, px);
      g.strokeStyle = "#7c8694";
      g.setLineDash([2, 2]);
      g.beginPath();
      g.moveTo(Math.round(hoverX) + 0.5, padT);
      g.lineTo(Math.round(hoverX) + 0.5, H - padB);
      if (d) {
        g.moveTo(padL, Math.round(Y(d.size)) + 0.5);
        g.lineTo(W - padR, Math.round(Y(d.size)) + 0.5);
      }
      g.stroke();
      g.setLineDash([]);
      const p = px.toFixed(Math.min(st.pdp, 8));
      readout = d ? p + " · " + d.side + "s " + d.size.toFixed(Math.min(st.sdp, 4)) + " · " +
        d.value.toLocaleString("en-US", { maximumFractionDigits: 0 }) + " notional" : p;
    }
    if (onHover) onHover(readout);
  }
  return drawDepth;
  }
