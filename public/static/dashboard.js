// Draws the dashboard's charts with uPlot (served from /lib/uplot, never a CDN). The server renders
// everything else; this script only turns the JSON in #dashboard-data into three charts. Each chart
// container gets data-rendered and data-points, which the browser test reads.
(function () {
  "use strict";

  const TIER_COLORS = { fast: "#2a9d8f", balanced: "#e9a23b", powerful: "#d1495b", none: "#9aa5b1" };
  const HEIGHT = 260;

  const usd = (v) => {
    if (v == null) return "–";
    const abs = Math.abs(v);
    const digits = abs === 0 ? 2 : abs < 0.01 ? 6 : abs < 1 ? 4 : 2;
    return "$" + v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  };
  const pct = (v) => (v == null ? "–" : v.toFixed(1) + "%");
  const color = (tier) => TIER_COLORS[tier] || "#6b7280";

  function readData() {
    const holder = document.getElementById("dashboard-data");
    return holder ? JSON.parse(holder.dataset.json || "{}") : null;
  }

  function markRendered(el, points) {
    el.dataset.rendered = "true";
    el.dataset.points = String(points);
  }

  function emptyState(el, text) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = text;
    el.replaceChildren(p);
    markRendered(el, 0);
  }

  // Ordinal x axis: one slot per label (a day or a task), so one-day ranges still draw a full bar.
  // Days show as MM-DD on the axis (the legend has the full date); labels thin out to stay apart.
  function ordinalAxis(labels) {
    const dates = labels.length > 0 && labels.every((l) => /^\d{4}-\d{2}-\d{2}$/.test(l));
    const short = dates ? labels.map((l) => l.slice(5)) : labels;
    const widest = Math.max(1, ...short.map((l) => l.length)) * 7 + 16;
    return {
      stroke: "#4b5563",
      grid: { show: false },
      ticks: { show: false },
      splits: () => labels.map((_, i) => i),
      values: (u, splits) => {
        const slot = Math.max(1, u.bbox.width / devicePixelRatio / Math.max(1, labels.length));
        // Days thin out (every n-th date still reads as a timeline); task names are each needed, so
        // they are shortened to their slot instead.
        if (!dates) {
          const chars = Math.max(3, Math.floor(slot / 7) - 1);
          return splits.map((i) => (labels[i].length > chars ? labels[i].slice(0, chars - 1) + "…" : labels[i]));
        }
        const every = Math.max(1, Math.ceil(widest / slot));
        return splits.map((i) => (i % every === 0 ? short[i] : ""));
      },
    };
  }

  // One precision per axis, picked from its largest tick, so labels line up ($0.50, $1.00, $1.50).
  function moneyAxis(scale, side) {
    const values = (u, splits) => {
      const top = Math.max(...splits.map((v) => Math.abs(v)));
      const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : top;
      const digits = Math.min(6, Math.max(2, step > 0 ? Math.ceil(-Math.log10(step)) + 1 : 2));
      return splits.map((v) => "$" + v.toLocaleString("en-US", { minimumFractionDigits: top >= 100 ? 0 : digits, maximumFractionDigits: top >= 100 ? 0 : digits }));
    };
    // Room for the longest label, which depends on the precision picked above.
    const size = (u, values) => (values ? Math.max(...values.map((v) => String(v).length)) * 7 + 18 : 60);
    return { scale, side, stroke: "#4b5563", grid: { stroke: "#eef0f3" }, size, values };
  }

  /**
   * Stacked bars by tier. uPlot has no stacking of its own: each series is drawn as the running total
   * up to its tier, tallest first, so every shorter bar paints over the one behind it. The legend shows
   * the tier's own value, not the running total.
   */
  function stackedBars(el, labels, byTier, tiers) {
    const raw = tiers.map((t) => byTier[t] || labels.map(() => 0));
    const cumulative = raw.map((_, k) => labels.map((_, i) => raw.slice(0, k + 1).reduce((sum, s) => sum + (s[i] || 0), 0)));
    const order = tiers.map((_, k) => k).reverse();
    const totals = raw.map((s) => s.reduce((a, b) => a + (b || 0), 0));
    const points = raw.reduce((n, s) => n + s.filter((v) => v > 0).length, 0);
    if (points === 0) return emptyState(el, "No spend in this range.");
    const bars = uPlot.paths.bars({ size: [0.6, 64], align: 0 });
    const opts = {
      width: el.clientWidth,
      height: HEIGHT,
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, usd: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [ordinalAxis(labels), moneyAxis("usd", 3)],
      legend: { live: true },
      cursor: { points: { show: false } },
      series: [
        // Not hovering, the legend shows each tier's total for the whole range.
        { label: el.dataset.chart === "cost-by-task" ? "Task" : "Day", value: (u, i) => (i == null ? "all" : labels[i]) },
        ...order.map((k) => ({
          label: tiers[k],
          scale: "usd",
          stroke: color(tiers[k]),
          fill: color(tiers[k]),
          width: 0,
          paths: bars,
          points: { show: false },
          value: (u, v, si, i) => usd(i == null ? totals[k] : raw[k][i]),
        })),
      ],
    };
    const data = [labels.map((_, i) => i), ...order.map((k) => cumulative[k])];
    el.replaceChildren();
    const chart = new uPlot(opts, data, el);
    markRendered(el, points);
    return chart;
  }

  function cacheChart(el, days, hitRate, saved) {
    const rates = hitRate.map((r) => (r == null ? null : r * 100));
    const points = rates.filter((r) => r != null).length + saved.filter((v) => v > 0).length;
    if (points === 0) return emptyState(el, "No cache lookups in this range.");
    const opts = {
      width: el.clientWidth,
      height: HEIGHT,
      scales: { x: { time: false, range: [-0.5, days.length - 0.5] }, pct: { range: [0, 100] }, usd: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [ordinalAxis(days), { scale: "pct", stroke: "#4b5563", grid: { stroke: "#eef0f3" }, values: (u, s) => s.map((v) => v + "%") }, { ...moneyAxis("usd", 1), grid: { show: false } }],
      cursor: { points: { show: true } },
      series: [
        { label: "Day", value: (u, i) => (i == null ? "all" : days[i]) },
        { label: "Saved", scale: "usd", stroke: "#93c5fd", fill: "#bfdbfe", width: 0, paths: uPlot.paths.bars({ size: [0.6, 64] }), points: { show: false }, value: (u, v, si, i) => usd(i == null ? saved.reduce((a, b) => a + b, 0) : v) },
        { label: "Hit rate", scale: "pct", stroke: "#1d4ed8", width: 2, spanGaps: true, points: { show: true, size: 6, fill: "#1d4ed8" }, value: (u, v) => pct(v) },
      ],
    };
    el.replaceChildren();
    const chart = new uPlot(opts, [days.map((_, i) => i), saved, rates], el);
    markRendered(el, points);
    return chart;
  }

  function draw() {
    const data = readData();
    if (!data || typeof uPlot === "undefined") return;
    const charts = [];
    const find = (name) => document.querySelector('[data-chart="' + name + '"]');
    const overTime = find("cost-over-time");
    const byTask = find("cost-by-task");
    const cache = find("cache");
    if (overTime) charts.push([overTime, stackedBars(overTime, data.days, data.costByDayTier, data.tiers)]);
    if (byTask) charts.push([byTask, stackedBars(byTask, data.tasks, data.costByTaskTier, data.tiers)]);
    if (cache) charts.push([cache, cacheChart(cache, data.days, data.cacheHitRate, data.savedByDay)]);

    let pending = 0;
    window.addEventListener("resize", () => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => {
        for (const [el, chart] of charts) if (chart) chart.setSize({ width: el.clientWidth, height: HEIGHT });
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
