// The reports page: reads /v1/reports/* with the key the user typed and draws it.
// The key lives in sessionStorage for this tab only and goes only to this origin.
// Values are always written with textContent, never as HTML.
"use strict";

(function () {
  const KEY = "vaultroute.reports.key";
  const PALETTE = ["#1f4e8c", "#2a9d8f", "#e9a03b", "#c8553d", "#7b5ea7", "#4d908e", "#90a955", "#d1495b", "#577590", "#8d6a9f"];
  const RESIDENCY_COLOURS = { on_prem: "#1d7a4d", external: "#c8553d", none: "#aab2c0" };
  const $ = (id) => document.getElementById(id);
  const charts = {};
  const state = { costs: null, breakdown: null };

  // -- money and numbers --------------------------------------------------------

  function usd(value) {
    const n = Number(value);
    const digits = Math.abs(n) >= 0.01 || n === 0 ? 2 : 4;  // cents, unless it would show $0.00
    return "$" + n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  const count = (n) => Number(n).toLocaleString("en-US");
  const compact = (n) => Number(n).toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 1 });
  const pct = (part, whole) => (whole > 0 ? ((100 * part) / whole).toFixed(1) + "%" : "–");

  // -- talking to the gateway ---------------------------------------------------

  class AuthError extends Error {}

  async function api(path, params, asText) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (value) url.searchParams.set(name, value);
    }
    const response = await fetch(url, {
      headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) },
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
    if (response.status === 401) throw new AuthError("This key is not valid (or was revoked).");
    if (response.status === 403) throw new AuthError("This key does not have the finance role.");
    if (!response.ok) {
      let message = "The gateway answered " + response.status + ".";
      try { message = (await response.json()).error.message; } catch (_) { /* keep the status */ }
      throw new Error(message);
    }
    return asText ? response.text() : response.json();
  }

  function period() {
    return { from: $("from").value, to: $("to").value };
  }

  // -- drawing ------------------------------------------------------------------

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart($(id), config);
  }

  function renderTotals(costs) {
    const t = costs.totals;
    $("kpi-cost").textContent = usd(t.cost_usd);
    $("kpi-cost").dataset.value = t.cost_usd;
    $("kpi-requests").textContent = count(t.requests) + " requests · " + count(t.errors) + " not answered";
    $("kpi-tokens").textContent = compact(t.prompt_tokens) + " / " + compact(t.completion_tokens);
    $("kpi-cached").textContent = count(t.prompt_tokens) + " in (" + count(t.cached_prompt_tokens) + " cached) · " + count(t.completion_tokens) + " out";
    $("kpi-savings").textContent = usd(t.savings_vs_reference_usd);
    $("kpi-savings").dataset.value = t.savings_vs_reference_usd;
    $("kpi-reference").textContent = "reference model would have cost " + usd(t.reference_cost_usd);
    $("kpi-onprem").textContent = usd(t.onprem_savings_usd);
    $("kpi-onprem").dataset.value = t.onprem_savings_usd;
    $("kpi-cache").textContent = usd(t.cache_saved_usd);
    $("kpi-cache").dataset.value = t.cache_saved_usd;
    $("kpi-cache-hits").textContent = count(t.cache_hits) + " answers from the cache";
    const q = costs;
    const until = q.to ? new Date(Date.parse(q.to) - 1).toISOString().slice(0, 10) : "now";
    $("window").textContent = "From " + (q.from ? q.from.slice(0, 10) : "the start") + " to " + until + " (UTC). Amounts in USD.";
  }

  function renderRoutes(byDayRoute) {
    const days = [...new Set(byDayRoute.rows.map((r) => r.day))].sort();
    const routes = [...new Set(byDayRoute.rows.map((r) => r.route || "(none)"))].sort();
    const datasets = routes.map((route, i) => ({
      label: route,
      backgroundColor: PALETTE[i % PALETTE.length],
      data: days.map((day) => byDayRoute.rows
        .filter((r) => r.day === day && (r.route || "(none)") === route)
        .reduce((sum, r) => sum + Number(r.cost_usd), 0)),
    }));
    draw("chart-routes", {
      type: "bar",
      data: { labels: days, datasets },
      options: {
        animation: false, maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + usd(c.parsed.y) } } },
        scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: (v) => usd(v) } } },
      },
    });
  }

  function renderResidency(byResidency) {
    const order = ["on_prem", "external", "none"];
    const names = { on_prem: "On-prem", external: "External", none: "Not sent" };
    const totals = {};
    for (const row of byResidency.rows) {
      const key = row.residency || "none";
      totals[key] = totals[key] || { requests: 0, cost: 0 };
      totals[key].requests += row.requests;
      totals[key].cost += Number(row.cost_usd);
    }
    const present = order.filter((k) => totals[k]);
    const allRequests = present.reduce((s, k) => s + totals[k].requests, 0);
    const allCost = present.reduce((s, k) => s + totals[k].cost, 0);
    draw("chart-residency", {
      type: "doughnut",
      data: {
        labels: present.map((k) => names[k]),
        datasets: [{ data: present.map((k) => totals[k].requests), backgroundColor: present.map((k) => RESIDENCY_COLOURS[k]) }],
      },
      options: {
        animation: false, maintainAspectRatio: false, cutout: "55%",
        plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: (c) => c.label + ": " + count(c.parsed) + " requests" } } },
      },
    });
    $("residency-caption").textContent = present
      .map((k) => names[k] + ": " + pct(totals[k].requests, allRequests) + " of requests, " + pct(totals[k].cost, allCost) + " of spend (" + usd(totals[k].cost) + ")")
      .join(" · ");
    const onprem = totals.on_prem ? totals.on_prem.requests : 0;
    $("kpi-onprem-share").textContent = pct(onprem, allRequests) + " of requests answered on-prem";
  }

  function renderSavings(byDay) {
    const rows = [...byDay.rows].sort((a, b) => (a.day < b.day ? -1 : 1));
    let actual = 0;
    let reference = 0;
    const actualSeries = [];
    const referenceSeries = [];
    for (const row of rows) {
      actual += Number(row.cost_usd);
      reference += Number(row.cost_usd) + Number(row.savings_vs_reference_usd);
      actualSeries.push(actual);
      referenceSeries.push(reference);
    }
    draw("chart-savings", {
      type: "line",
      data: {
        labels: rows.map((r) => r.day),
        datasets: [
          { label: "If everything went to the reference model", data: referenceSeries, borderColor: "#c8553d", backgroundColor: "rgba(200,85,61,0.12)", fill: "+1", tension: 0.2 },
          { label: "Actual spend", data: actualSeries, borderColor: "#1f4e8c", backgroundColor: "#1f4e8c", tension: 0.2 },
        ],
      },
      options: {
        animation: false, maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + usd(c.parsed.y) } } },
        scales: { y: { beginAtZero: true, ticks: { callback: (v) => usd(v) } } },
      },
    });
  }

  function renderTeams(byTeam, burn) {
    const budgets = Object.fromEntries(burn.budgets.map((b) => [b.team, b]));
    const body = $("teams").querySelector("tbody");
    body.replaceChildren();
    const rows = [...byTeam.rows].sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd)).slice(0, 8);
    for (const row of rows) {
      const tr = document.createElement("tr");
      cell(tr, row.team);
      cell(tr, usd(row.cost_usd), "num");
      const td = cell(tr, "");
      const budget = budgets[row.team];
      if (budget) {
        const wrap = document.createElement("div");
        wrap.className = "burn" + (budget.over ? " over" : budget.soft_reached ? " soft" : "");
        const track = document.createElement("div");
        track.className = "track";
        const fill = document.createElement("div");
        fill.className = "fill";
        fill.style.width = Math.min(100, budget.burn * 100).toFixed(1) + "%";
        track.appendChild(fill);
        const label = document.createElement("span");
        label.className = "pct";
        label.textContent = (budget.burn * 100).toFixed(0) + "% of " + usd(budget.monthly_usd);
        wrap.append(track, label);
        td.appendChild(wrap);
      } else {
        const none = document.createElement("span");
        none.className = "nobudget";
        none.textContent = "no budget";
        td.appendChild(none);
      }
      body.appendChild(tr);
    }
  }

  const COLUMNS = [
    ["requests", "Requests", count], ["prompt_tokens", "Tokens in", count], ["completion_tokens", "Tokens out", count],
    ["cost_usd", "Cost", usd], ["reference_cost_usd", "Reference", usd], ["savings_vs_reference_usd", "Saved vs ref.", usd],
    ["onprem_savings_usd", "Saved on-prem", usd], ["cache_saved_usd", "Saved by cache", usd],
  ];

  function renderBreakdown(report) {
    state.breakdown = report;
    const dim = report.group_by[0];
    const table = $("breakdown");
    const head = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = dim;
    head.appendChild(th);
    for (const [, label] of COLUMNS) {
      const h = document.createElement("th");
      h.textContent = label;
      h.className = "num";
      head.appendChild(h);
    }
    table.tHead.replaceChildren(head);
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const row of report.rows) {
      const tr = document.createElement("tr");
      cell(tr, row[dim] === null ? "–" : row[dim]);
      for (const [name, , fmt] of COLUMNS) cell(tr, fmt(row[name]), "num");
      body.appendChild(tr);
    }
    const foot = document.createElement("tr");
    cell(foot, "Total");
    for (const [name, , fmt] of COLUMNS) {
      const td = cell(foot, fmt(report.totals[name]), "num");
      td.dataset.field = name;
      td.dataset.value = report.totals[name];
    }
    table.tFoot.replaceChildren(foot);
  }

  async function exportCsv() {
    const csv = await api("/v1/reports/costs", { ...period(), group_by: $("group").value, format: "csv" }, true);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    link.download = "vaultroute-costs-" + $("from").value + "-" + $("to").value + "-by-" + $("group").value + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // -- flow -----------------------------------------------------------------------

  function showSignin(message) {
    sessionStorage.removeItem(KEY);
    document.body.dataset.state = "signin";
    $("report").hidden = true;
    $("period").hidden = true;
    $("signout").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    $("key").focus();
  }

  async function load() {
    document.body.dataset.state = "loading";
    $("failure").hidden = true;
    const p = period();
    history.replaceState(null, "", "?from=" + encodeURIComponent(p.from) + "&to=" + encodeURIComponent(p.to));
    try {
      const [byDayRoute, byResidency, byDay, byTeam, burn, breakdown] = await Promise.all([
        api("/v1/reports/costs", { ...p, group_by: "day,route" }),
        api("/v1/reports/costs", { ...p, group_by: "residency" }),
        api("/v1/reports/costs", { ...p, group_by: "day" }),
        api("/v1/reports/costs", { ...p, group_by: "team" }),
        api("/v1/reports/budgets"),
        api("/v1/reports/costs", { ...p, group_by: $("group").value }),
      ]);
      $("signin").hidden = true;
      $("report").hidden = false;
      $("period").hidden = false;
      $("signout").hidden = false;
      state.costs = byDay;
      renderTotals(byDay);
      renderRoutes(byDayRoute);
      renderResidency(byResidency);
      renderSavings(byDay);
      renderTeams(byTeam, burn);
      renderBreakdown(breakdown);
      document.body.dataset.state = "ready";
    } catch (error) {
      if (error instanceof AuthError) return showSignin(error.message);
      document.body.dataset.state = "error";
      $("failure").textContent = error.message;
      $("failure").hidden = false;
    }
  }

  function defaults() {
    const params = new URLSearchParams(window.location.search);
    const today = new Date().toISOString().slice(0, 10);
    $("from").value = params.get("from") || today.slice(0, 8) + "01";
    $("to").value = params.get("to") || today;
  }

  document.addEventListener("DOMContentLoaded", () => {
    defaults();
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("key").value.trim());
      $("key").value = "";
      load();
    });
    $("period").addEventListener("submit", (event) => { event.preventDefault(); load(); });
    $("signout").addEventListener("click", () => showSignin(""));
    $("group").addEventListener("change", async () => {
      try {
        renderBreakdown(await api("/v1/reports/costs", { ...period(), group_by: $("group").value }));
      } catch (error) {
        if (error instanceof AuthError) showSignin(error.message);
      }
    });
    $("export").addEventListener("click", () => exportCsv().catch((error) => {
      if (error instanceof AuthError) showSignin(error.message);
    }));
    if (sessionStorage.getItem(KEY)) load(); else showSignin("");
  });
})();
