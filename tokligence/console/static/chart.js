// A stacked bar chart in SVG, drawn from numbers only: labels are text
// nodes, colours are classes of the style sheet (c0…c10), and every bar
// carries a <title> (its tooltip) naming the bucket, the series and the value.

import { h, s } from "./dom.js";

const W = 900;
const H = 260;
const PAD = { left: 64, right: 12, top: 12, bottom: 30 };

function niceStep(max, ticks) {
  const raw = max / ticks;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * power >= raw) return m * power;
  }
  return 10 * power;
}

// buckets: [label…]; series: [{label, values: [number…], colour: index}];
// format: number -> text.
export function stackedBars({ title, buckets, series, format }) {
  const totals = buckets.map((_, i) => series.reduce((sum, one) => sum + (one.values[i] || 0), 0));
  const grand = totals.reduce((a, b) => a + b, 0);
  const max = Math.max(...totals, 0);
  const step = max > 0 ? niceStep(max, 4) : 1;
  const top = max > 0 ? Math.ceil(max / step) * step : 1;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(buckets.length, 1);
  const barW = Math.max(1, Math.min(48, slot * 0.72));
  const y = (value) => PAD.top + plotH - (value / top) * plotH;

  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": `${title}: ${format(grand)} in total`,
    "data-total": grand,
  });
  svg.append(s("title", null, `${title}: ${format(grand)} in total`));

  for (let tick = 0; tick <= top + step / 2; tick += step) {
    const ty = y(tick);
    svg.append(
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: ty, y2: ty, class: "grid" }),
      s("text", { x: PAD.left - 6, y: ty + 4, class: "axis", "text-anchor": "end" }, format(tick)),
    );
  }

  const every = Math.max(1, Math.ceil(buckets.length / 12));
  buckets.forEach((bucket, i) => {
    const x = PAD.left + slot * i + (slot - barW) / 2;
    let base = 0;
    const group = s("g", { class: "bucket", "data-bucket": bucket, "data-total": totals[i] });
    for (const one of series) {
      const value = one.values[i] || 0;
      if (value <= 0) continue;
      const y0 = y(base);
      const y1 = y(base + value);
      base += value;
      group.append(
        s(
          "rect",
          {
            x,
            y: y1,
            width: barW,
            height: Math.max(0.5, y0 - y1),
            class: `bar c${one.colour}`,
            "data-series": one.label,
            "data-value": value,
          },
          s("title", null, `${bucket} · ${one.label}: ${format(value)}`),
        ),
      );
    }
    if (totals[i] > 0) group.append(s("title", null, `${bucket}: ${format(totals[i])}`));
    svg.append(group);
    if (i % every === 0) {
      svg.append(
        s("text", { x: x + barW / 2, y: H - PAD.bottom + 16, class: "axis", "text-anchor": "middle" }, bucket),
      );
    }
  });
  if (grand === 0) {
    svg.append(s("text", { x: W / 2, y: H / 2, class: "axis empty", "text-anchor": "middle" }, "no requests in this period"));
  }
  return svg;
}

// A small line of values (the providers page), without axes.
export function sparkline(values, label) {
  const w = 120;
  const hgt = 28;
  const max = Math.max(...values, 0) || 1;
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 2 - (v / max) * (hgt - 4)).toFixed(1)}`);
  return s(
    "svg",
    { viewBox: `0 0 ${w} ${hgt}`, class: "spark", role: "img", "aria-label": label },
    s("title", null, label),
    s("polyline", { points: points.join(" "), class: "spark-line" }),
  );
}

export function legend(series, format) {
  return h(
    "ul",
    { class: "legend" },
    series.map((one) =>
      h("li", null, h("span", { class: `swatch c${one.colour}`, "aria-hidden": "true" }), h("span", { class: "legend-label" }, one.label), " ", h("span", { class: "muted" }, format(one.values.reduce((a, b) => a + b, 0)))),
    ),
  );
}
