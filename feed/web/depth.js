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

// depthChart binds a chart to canvas; onResize is called when its box changes size. It returns the draw
// function: draw(st, bids, asks) with st the symbol's state (its decimals and whether it has a book).
export function depthChart(canvas, onResize) {
  const ctx2d = canvas.getContext("2d");
  let canvasW = 0, canvasH = 0;
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
      return;
    }
    const padL = 8, padR = 8, padT = 10, padB = 20;
    const lo = parseFloat(bids[bids.length - 1].p), hi = parseFloat(asks[asks.length - 1].p);
    const bb = parseFloat(bids[0].p), ba = parseFloat(asks[0].p), mid = (bb + ba) / 2;
    const half = Math.max(mid - lo, hi - mid) || 1;
    const x0 = mid - half, x1 = mid + half;
    const [bt] = sideTotal(bids), [at] = sideTotal(asks);
    const ymax = Math.max(bt, at) * 1.08 || 1;
    const X = (p) => padL + ((p - x0) / (x1 - x0)) * (W - padL - padR);
    const Y = (v) => H - padB - (v / ymax) * (H - padT - padB);

    // grid
    g.strokeStyle = "#1c222b";
    g.lineWidth = 1;
    g.beginPath();
    for (let i = 1; i <= 3; i++) {
      const y = Math.round(padT + ((H - padT - padB) * i) / 4) + 0.5;
      g.moveTo(padL, y);
      g.lineTo(W - padR, y);
    }
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
    g.font = "10px 'DejaVu Sans Mono', monospace";
    g.textBaseline = "top";
    const dp = Math.min(st.pdp, 6);
    g.textAlign = "left";
    g.fillText(x0.toFixed(dp), padL, H - padB + 5);
    g.textAlign = "center";
    g.fillText(mid.toFixed(Math.min(st.pdp + 1, 6)), X(mid), H - padB + 5);
    g.textAlign = "right";
    g.fillText(x1.toFixed(dp), W - padR, H - padB + 5);
    g.textBaseline = "alphabetic";
    g.textAlign = "left";
    g.fillText("bids " + bt.toFixed(Math.min(st.sdp, 3)), padL + 2, padT + 10);
    g.textAlign = "right";
    g.fillText("asks " + at.toFixed(Math.min(st.sdp, 3)), W - padR - 2, padT + 10);
  }
  return drawDepth;
  }
