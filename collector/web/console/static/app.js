// The console's little JavaScript: live countdowns and charts (ECharts); live updates
// are live.js's.
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

function timelineChart(element) {
  const spans = JSON.parse(element.dataset.spans);
  const labels = JSON.parse(element.dataset.labels);
  const colours = STATE_COLOURS;
  const rows = ["up", "degraded", "down", "unknown"];
  // Times as the policy's zone reads them, not the browser's: shifted by its offset and
  // drawn as UTC (ECharts knows no other zone).
  const shift = Number(element.dataset.offset || 0) * 60000;
  const when = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");
  const chart = echarts.init(element, "dark");
  chart.setOption({
    backgroundColor: "transparent",
    useUTC: true,
    // richText: tooltips drawn as text on the canvas, never parsed as HTML.
    tooltip: { renderMode: "richText", formatter: (p) => labels[p.value[3]] + "\n" + when(p.value[1]) + " – " + when(p.value[2]) },
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
      data: spans.map((s) => [rows.indexOf(s.state), s.from + shift, s.to + shift, s.state]),
    }],
  });
}

// Devices by their coordinates on plain axes (no tile server: police video networks have
// no internet), one series per state so each has its colour and legend entry; live.js
// recolours a point when its device changes state.
const STATE_COLOURS = { up: "#2e9e5e", degraded: "#d9a52b", down: "#d2453b", unknown: "#5b6b80" };

function mapChart(element) {
  const points = JSON.parse(element.dataset.points);
  const labels = JSON.parse(element.dataset.labels);
  const chart = echarts.init(element, "dark");
  const states = ["down", "degraded", "unknown", "up"];
  const draw = () => chart.setOption({
    backgroundColor: "transparent",
    animation: false,
    legend: { top: 0, data: states.map((s) => labels[s]) },
    tooltip: { renderMode: "richText", formatter: (p) => p.value[3] + "\n" + p.value[4] + " · " + p.value[5] + "\n" + labels[p.value[2]] },
    grid: { left: 70, right: 20, top: 40, bottom: 50 },
    xAxis: { type: "value", scale: true, name: labels.lon, nameLocation: "middle", nameGap: 26, axisLabel: { formatter: (v) => v.toFixed(3) } },
    yAxis: { type: "value", scale: true, name: labels.lat, axisLabel: { formatter: (v) => v.toFixed(3) } },
    series: states.map((state) => ({
      name: labels[state], type: "scatter", symbolSize: state === "up" ? 6 : 9,
      itemStyle: { color: STATE_COLOURS[state] }, large: points.length > 5000,
      data: points.filter((p) => p[2] === state),
    })),
  });
  draw();
  element.dataset.ready = "yes";
  const byId = new Map(points.map((p) => [p[4], p]));
  let pending = null;
  element.addEventListener("device-state", (event) => {
    const point = byId.get(event.detail.device_id);
    if (!point) return;
    point[2] = event.detail.state;
    if (!pending) pending = setTimeout(() => { pending = null; draw(); }, 500);
  });
  return chart;
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

// A maintenance scope's search box: the entry being typed (after the last comma) is
// looked up by name, address, region or station; the choices fill a datalist.
function scopeSearch(input) {
  const list = document.createElement("datalist");
  list.id = "scope-choices";
  input.after(list);
  input.setAttribute("list", list.id);
  input.setAttribute("autocomplete", "off");
  if (!input.placeholder) input.placeholder = JSON.parse(document.body.dataset.words || "{}").scope_search || "";
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const parts = input.value.split(/[,，、]/);
      const typed = parts.pop().trim();
      const before = parts.length ? parts.join("，") + "，" : "";
      if (!typed) { list.replaceChildren(); return; }
      const answer = await fetch("/scope.json?q=" + encodeURIComponent(typed));
      if (!answer.ok) return;
      list.replaceChildren(...(await answer.json()).map((found) => {
        const option = document.createElement("option");
        option.value = before + found.value;
        option.label = found.label;
        return option;
      }));
    }, 200);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const scope = document.querySelector("input[name=scope], textarea[name=scope]");
  if (scope && scope.tagName === "INPUT") scopeSearch(scope);
  tick();
  setInterval(tick, 1000);
  const timeline = document.getElementById("timeline");
  if (timeline && window.echarts) timelineChart(timeline);
  const trend = document.getElementById("trend");
  if (trend && window.echarts) trendChart(trend);
  const map = document.getElementById("map");
  if (map && window.echarts) mapChart(map);
  const print = document.getElementById("print");
  if (print) print.addEventListener("click", () => window.print());
});
