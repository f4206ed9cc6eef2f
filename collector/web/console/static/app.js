// The console's little JavaScript: live countdowns, live updates (SSE), charts (ECharts).
// It builds no HTML from strings: text goes in as textContent, chart text as richText.
"use strict";

const LANG = document.body.dataset.lang;
const WORDS = LANG === "zh"
  ? { overdue: "已超时", h: "小时", m: "分", s: "秒" }
  : { overdue: "overdue", h: "h", m: "m", s: "s" };

function span(seconds) {
  const s = Math.abs(Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? h + WORDS.h + " " : "") + m + WORDS.m + " " + String(r).padStart(2, "0") + WORDS.s;
}

// A deadline's cell counts down each second, amber in its last quarter, red once past;
// it stops (and greys) when its ticket was acknowledged or resolved.
function tick() {
  const now = Date.now();
  for (const cell of document.querySelectorAll(".countdown")) {
    if (cell.dataset.stopped) { cell.classList.add("stopped"); continue; }
    const left = (Date.parse(cell.dataset.deadline) - now) / 1000;
    const total = Number(cell.dataset.total) || 1;
    cell.classList.toggle("red", left < 0);
    cell.classList.toggle("amber", left >= 0 && left < total / 4);
    cell.textContent = left < 0 ? WORDS.overdue + " " + span(left) : span(left);
  }
}

// Live updates: a ticket or alert reloads the fault lists (soon, once); a state change
// updates a device row in place where one is shown.
function live() {
  if (document.body.dataset.live !== "on") return; // the open wall reloads itself instead
  const badge = document.getElementById("live");
  const source = new EventSource("/events");
  let reload = null;
  const soon = () => { if (!reload) reload = setTimeout(() => location.reload(), 1500); };
  source.onopen = () => badge && badge.classList.add("on");
  source.onerror = () => badge && badge.classList.remove("on");
  const onFaultPage = document.querySelector("table.faults") !== null;
  for (const kind of ["ticket", "alert", "resync"]) {
    source.addEventListener(kind, () => { if (onFaultPage) soon(); });
  }
  source.addEventListener("state", (message) => {
    const event = JSON.parse(message.data);
    const row = document.querySelector(`tr[data-device="${CSS.escape(event.device_id)}"] td.state`);
    if (row) { row.className = "state " + event.state; row.textContent = event.state; }
  });
}

function timelineChart(element) {
  const spans = JSON.parse(element.dataset.spans);
  const labels = JSON.parse(element.dataset.labels);
  const colours = { up: "#2e9e5e", degraded: "#d9a52b", down: "#d2453b", unknown: "#5b6b80" };
  const rows = ["up", "degraded", "down", "unknown"];
  const chart = echarts.init(element, "dark");
  chart.setOption({
    backgroundColor: "transparent",
    // richText: tooltips drawn as text on the canvas, never parsed as HTML.
    tooltip: { renderMode: "richText", formatter: (p) => labels[p.value[3]] + "\n" + new Date(p.value[1]).toLocaleString() + " – " + new Date(p.value[2]).toLocaleString() },
    grid: { left: 80, right: 20, top: 10, bottom: 40 },
    xAxis: { type: "time" },
    yAxis: { type: "category", data: rows.map((r) => labels[r]) },
    series: [{
      type: "custom",
      renderItem: (params, api) => {
        const row = api.value(0), start = api.coord([api.value(1), row]), end = api.coord([api.value(2), row]);
        const height = api.size([0, 1])[1] * 0.6;
        return { type: "rect", shape: { x: start[0], y: start[1] - height / 2, width: Math.max(1, end[0] - start[0]), height }, style: { fill: colours[api.value(3)] } };
      },
      encode: { x: [1, 2], y: 0 },
      data: spans.map((s) => [rows.indexOf(s.state), s.from, s.to, s.state]),
    }],
  });
}

function trendChart(element) {
  const trends = JSON.parse(element.dataset.trend || "[]");
  const chart = echarts.init(element, "dark");
  chart.setOption({
    backgroundColor: "transparent",
    tooltip: { renderMode: "richText", trigger: "axis", valueFormatter: (v) => v == null ? "—" : (v * 100).toFixed(3) + "%" },
    legend: { top: 0 },
    grid: { left: 60, right: 20, top: 30, bottom: 30 },
    xAxis: { type: "category", data: trends.length ? trends[0].days : [] },
    yAxis: {
      type: "value", max: 1, min: (range) => Math.max(0, Math.floor(range.min * 100 - 1) / 100),
      axisLabel: { formatter: (v) => (v * 100).toFixed(1) + "%" },
    },
    series: trends.map((t) => ({
      name: t.key === "-" ? element.dataset.noContract : t.name || t.key,
      type: "line", data: t.online_rate, connectNulls: false, showSymbol: true,
    })),
  });
}

document.addEventListener("DOMContentLoaded", () => {
  tick();
  setInterval(tick, 1000);
  live();
  const timeline = document.getElementById("timeline");
  if (timeline && window.echarts) timelineChart(timeline);
  const trend = document.getElementById("trend");
  if (trend && window.echarts) trendChart(trend);
});
