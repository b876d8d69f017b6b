/* The grocery dashboard: every view drawn from the data inlined in this page, with Plotly.
 * Views marked data-filters="date category" add up their day-grain rows for the chosen range and
 * category on every change; customer-level views show the customer marts as they are. */
(function () {
  "use strict";

  const DATA = window.DASHBOARD_DATA; // inflated by loader.js before this script runs
  const META = DATA.meta;
  const LOCALE = META.locale || "en-US";
  const CATEGORY_ALL = -1;

  // -- formatting for people -------------------------------------------------------------------
  const currencyDigits = new Intl.NumberFormat(LOCALE, { style: "currency", currency: META.currency })
    .resolvedOptions().maximumFractionDigits;
  const moneyWhole = new Intl.NumberFormat(LOCALE, {
    style: "currency", currency: META.currency, minimumFractionDigits: 0, maximumFractionDigits: 0,
  });
  const moneyExact = new Intl.NumberFormat(LOCALE, {
    style: "currency", currency: META.currency,
    minimumFractionDigits: currencyDigits, maximumFractionDigits: currencyDigits,
  });
  const currencySymbol = (moneyWhole.formatToParts(0).find((p) => p.type === "currency") || { value: "" }).value;
  const whole = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
  const oneDecimal = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const percent = new Intl.NumberFormat(LOCALE, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const longDate = new Intl.DateTimeFormat(LOCALE, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  const monthName = new Intl.DateTimeFormat(LOCALE, { year: "numeric", month: "long", timeZone: "UTC" });

  /** Amounts of ten thousand and more in whole units, smaller ones to the cent. */
  function money(v) { return Math.abs(v) >= 10000 ? moneyWhole.format(v) : moneyExact.format(v); }
  function count(v) { return whole.format(v); }
  function day(iso) { return iso ? longDate.format(new Date(iso + "T00:00:00Z")) : "–"; }
  function dayRange(first, last) { return first === last ? day(first) : `${day(first)} – ${day(last)}`; }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  /** Text for Plotly's labels, drawn as it is: Plotly reads <br>, <b>, ... and entities in label text as formatting. */
  function plotText(s) {
    return String(s == null ? "" : s).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" }[c]));
  }
  function compareIds(a, b) {
    return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
  }

  /** Labels that tell apart members of the same name: the name, and where two of the members share it,
   * the detail that tells them apart (a city's country), else the id ("Springfield (Canada)", "Ann Twin #7"). */
  function distinctLabels(members, detail) {
    const name = (m) => (m.name == null || m.name === "" ? `#${m.id}` : String(m.name));
    const groups = new Map();
    members.forEach((m, i) => groups.set(name(m), [...(groups.get(name(m)) || []), i]));
    const labels = members.map(name);
    for (const [shared, group] of groups) {
      if (group.length < 2) continue;
      const details = detail ? group.map((i) => detail(members[i])) : [];
      const told = details.length && details.every((d) => d) && new Set(details).size === group.length;
      group.forEach((i, k) => { labels[i] = told ? `${shared} (${details[k]})` : `${shared} #${members[i].id}`; });
    }
    // A label made so may be another member's own name ("Plain #2"): then the ids settle it.
    const seen = new Map();
    for (const l of labels) seen.set(l, (seen.get(l) || 0) + 1);
    return labels.map((l, i) => (seen.get(l) > 1 ? `${l} #${members[i].id}` : l));
  }
  const CATEGORY_LABELS = distinctLabels(DATA.categories.map((name, i) => ({ name, id: DATA.category_ids[i] })));

  // -- state and filters -------------------------------------------------------------------------
  const nDays = DATA.dates.length;
  const state = { start: 0, end: nDays - 1, category: CATEGORY_ALL };
  const el = (id) => document.getElementById(id);

  function inRange(d) { return d >= state.start && d <= state.end; }
  function inCategory(c) { return state.category === CATEGORY_ALL || c === state.category; }

  function setupFilters() {
    const start = el("f-start"), end = el("f-end"), month = el("f-month"), category = el("f-category");
    for (const input of [start, end]) {
      input.min = DATA.dates[0] || "";
      input.max = DATA.dates[nDays - 1] || "";
    }
    const months = [...new Set(DATA.dates.map((d) => d.slice(0, 7)))];
    month.innerHTML = '<option value="">All months</option><option value="custom" hidden>Custom range</option>' +
      months.map((m) => `<option value="${m}">${esc(monthName.format(new Date(m + "-01T00:00:00Z")))}</option>`).join("");
    category.innerHTML = '<option value="-1">All categories</option>' +
      CATEGORY_LABELS.map((label, i) => `<option value="${i}">${esc(label)}</option>`).join("");

    start.addEventListener("change", () => setRange(start.value, null));
    end.addEventListener("change", () => setRange(null, end.value));
    month.addEventListener("change", () => {
      if (!month.value) { state.start = 0; state.end = nDays - 1; }
      else if (month.value !== "custom") {
        const days = DATA.dates.map((d, i) => [d, i]).filter(([d]) => d.startsWith(month.value)).map(([, i]) => i);
        state.start = days[0]; state.end = days[days.length - 1];
      }
      update();
    });
    category.addEventListener("change", () => { state.category = Number(category.value); update(); });
    el("f-reset").addEventListener("click", () => {
      state.start = 0; state.end = nDays - 1; state.category = CATEGORY_ALL; update();
    });
  }

  function setRange(startIso, endIso) {
    const index = (iso, fallback) => {
      if (!iso) return fallback;
      let i = DATA.dates.indexOf(iso);
      if (i < 0) i = iso < DATA.dates[0] ? 0 : nDays - 1;
      return i;
    };
    state.start = index(startIso, state.start);
    state.end = index(endIso, state.end);
    if (state.start > state.end) [state.start, state.end] = [state.end, state.start];
    update();
  }

  function syncFilterInputs() {
    el("f-start").value = DATA.dates[state.start] || "";
    el("f-end").value = DATA.dates[state.end] || "";
    el("f-category").value = String(state.category);
    const first = DATA.dates[state.start] || "", last = DATA.dates[state.end] || "";
    let month = "custom";
    if (state.start === 0 && state.end === nDays - 1) month = "";
    else if (first.slice(0, 7) === last.slice(0, 7)) {
      const m = first.slice(0, 7);
      const days = DATA.dates.filter((d) => d.startsWith(m));
      if (days[0] === first && days[days.length - 1] === last) month = m;
    }
    el("f-month").value = month;
    const categoryText = state.category === CATEGORY_ALL ? "all categories" : CATEGORY_LABELS[state.category];
    el("subtitle").textContent = `${day(first)} – ${day(last)} · ${categoryText}`;
    document.body.dataset.start = first;
    document.body.dataset.end = last;
    document.body.dataset.category = state.category === CATEGORY_ALL ? "" : DATA.categories[state.category];
  }

  // -- aggregation ---------------------------------------------------------------------------------
  /** Sums of the chosen measures per key, over the rows in the date range (and category, if the rows have one). */
  function sumBy(rows, key, measures, useCategory) {
    const out = new Map();
    const n = rows.d.length;
    for (let i = 0; i < n; i++) {
      if (!inRange(rows.d[i])) continue;
      if (useCategory && !inCategory(rows.c[i])) continue;
      const k = key(i);
      let acc = out.get(k);
      if (!acc) { acc = Object.fromEntries(measures.map((m) => [m, 0])); out.set(k, acc); }
      for (const m of measures) acc[m] += rows[m][i];
    }
    return out;
  }

  /** The n biggest by a measure, ties by id ascending, as the marts and the terminal's answers rank them.
   * Sums are compared to the millionth the data carries, so that float addition cannot split a tie. */
  function topN(map, measure, n, idOf) {
    const rounded = (v) => Math.round(v[measure] * 1e6);
    return [...map.entries()].sort((a, b) => rounded(b[1]) - rounded(a[1]) || compareIds(idOf(a[0]), idOf(b[0]))).slice(0, n);
  }

  function totals() {
    const rows = state.category === CATEGORY_ALL ? DATA.daily : DATA.daily_category;
    const t = { revenue: 0, lines: 0, orders: 0, units: 0 };
    for (let i = 0; i < rows.d.length; i++) {
      if (!inRange(rows.d[i])) continue;
      if (rows.c && !inCategory(rows.c[i])) continue;
      t.revenue += rows.revenue[i]; t.lines += rows.lines[i]; t.orders += rows.orders[i]; t.units += rows.units[i];
    }
    return t;
  }

  // -- Plotly helpers ----------------------------------------------------------------------------
  const PLOT_CONFIG = { displayModeBar: false, responsive: true };
  const FONT = { family: getComputedStyle(document.documentElement).fontFamily, size: 12, color: "#1f2733" };
  const BLUE = "#1f6feb", GREY = "#98a2b3";

  function baseLayout(extra) {
    return Object.assign({
      font: FONT, margin: { l: 10, r: 16, t: 8, b: 30 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      separators: ".,", hoverlabel: { font: { family: FONT.family } }, showlegend: false,
    }, extra);
  }
  const moneyAxis = { tickprefix: currencySymbol, exponentformat: "B", automargin: true, gridcolor: "#eef1f5", rangemode: "tozero" };
  const countAxis = { exponentformat: "B", automargin: true, gridcolor: "#eef1f5", rangemode: "tozero" };

  function draw(id, traces, layout) {
    const node = el(id);
    return Plotly.react(node, traces, baseLayout(layout), PLOT_CONFIG).then(() => { node.dataset.rendered = "1"; });
  }

  /** A top-10 horizontal bar chart, biggest on top, each bar labelled with its formatted value.
   * The labels must be distinct (see distinctLabels): a category axis draws equal ones as one row.
   * hoverExtra is Plotly label text: names in it go through plotText. */
  function rankBars(id, labels, values, format, color, hoverExtra) {
    const n = labels.length;
    return draw(id, [{
      type: "bar", orientation: "h", y: labels.map(plotText).reverse(), x: values.slice().reverse(),
      text: values.map(format).reverse(), textposition: "auto", insidetextanchor: "end", cliponaxis: false,
      marker: { color: color || BLUE }, customdata: (hoverExtra || values.map(() => "")).slice().reverse(),
      hovertemplate: "<b>%{y}</b><br>%{text}%{customdata}<extra></extra>",
    }], {
      xaxis: Object.assign({}, format === money ? moneyAxis : countAxis, { fixedrange: true }),
      yaxis: { type: "category", automargin: true, fixedrange: true, ticksuffix: "  " },
      margin: { l: 10, r: 16, t: 4, b: 28 }, bargap: 0.25, height: undefined,
      annotations: n ? [] : [{ text: "No sales in this selection", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }],
    });
  }

  // -- the views -----------------------------------------------------------------------------------
  function renderKpis() {
    const t = totals();
    const cards = [
      ["revenue", "Net revenue", money(t.revenue), t.revenue, `${count(state.end - state.start + 1)} days`],
      ["customers", "Customers", count(DATA.customers.buying), DATA.customers.buying, `buying, all time · of ${count(DATA.customers.total)}`],
      ["lines", "Sale lines", count(t.lines), t.lines, `${count(t.orders)} orders`],
      ["units", "Units sold", count(t.units), t.units, t.lines ? `${oneDecimal.format(t.units / t.lines)} per line` : "–"],
      ["aov", "Avg order value", t.orders ? moneyExact.format(t.revenue / t.orders) : "–", t.orders ? t.revenue / t.orders : "", "net revenue ÷ orders"],
      ["freshness", "Data through", day(META.last_date), META.last_date || "", `loaded ${day(META.latest_ingest_date)}`],
    ];
    el("kpis").innerHTML = cards.map(([key, label, text, value, hint]) =>
      `<div class="kpi" data-kpi="${key}" data-value="${esc(value)}"><div class="label">${esc(label)}</div>` +
      `<div class="value" title="${esc(text)}">${esc(text)}</div><div class="hint" title="${esc(hint)}">${esc(hint)}</div></div>`).join("");
    fitKpis();
  }

  /** Shrink a KPI's figure until it fits its card (billions at laptop width), never below 13px. */
  function fitKpis() {
    for (const value of document.querySelectorAll(".kpi .value")) {
      value.style.fontSize = "";
      let size = parseFloat(getComputedStyle(value).fontSize);
      while (value.scrollWidth > value.clientWidth && size > 13) {
        size -= 1;
        value.style.fontSize = size + "px";
      }
    }
  }

  function renderDaily() {
    const rows = state.category === CATEGORY_ALL ? DATA.daily : DATA.daily_category;
    const series = new Array(nDays).fill(0);
    for (let i = 0; i < rows.d.length; i++) {
      if (rows.c && !inCategory(rows.c[i])) continue;
      series[rows.d[i]] += rows.revenue[i];
    }
    // The moving average of a day looks back over the 7 days up to it, also before the range shown.
    const ma = series.map((_, i) => {
      if (i < 6) return null;
      let s = 0;
      for (let j = i - 6; j <= i; j++) s += series[j];
      return s / 7;
    });
    const x = DATA.dates.slice(state.start, state.end + 1);
    const y = series.slice(state.start, state.end + 1);
    const m = ma.slice(state.start, state.end + 1);
    return draw("chart-daily", [
      { type: "bar", name: "Net revenue", x, y, marker: { color: "#9cc3ff" }, text: y.map(money),
        hovertemplate: "%{x|%b %d, %Y}<br>%{text}<extra>Net revenue</extra>", textposition: "none" },
      { type: "scatter", mode: "lines", name: "7-day average", x, y: m, line: { color: "#0b3d91", width: 2.5 },
        text: m.map((v) => (v == null ? "" : money(v))), hovertemplate: "%{x|%b %d, %Y}<br>%{text}<extra>7-day average</extra>" },
    ], {
      xaxis: { type: "date", automargin: true }, yaxis: moneyAxis, showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.08, font: { size: 11 } }, margin: { l: 10, r: 16, t: 24, b: 30 },
    });
  }

  function renderCategories() {
    const sums = sumBy(DATA.daily_category, (i) => DATA.daily_category.c[i], ["revenue"], false);
    const order = [...sums.entries()].sort((a, b) => b[1].revenue - a[1].revenue || compareIds(DATA.category_ids[a[0]], DATA.category_ids[b[0]]));
    // A pie adds up the slices of equal labels: the labels are distinct, and escaped for Plotly.
    const labels = order.map(([c]) => plotText(CATEGORY_LABELS[c]));
    const values = order.map(([, v]) => v.revenue);
    const pull = order.map(([c]) => (c === state.category ? 0.12 : 0));
    return draw("chart-categories", [{
      type: "pie", hole: 0.5, labels, values, pull, sort: false, direction: "clockwise",
      text: values.map(money), textinfo: "percent", textposition: "inside", insidetextorientation: "horizontal",
      hovertemplate: "<b>%{label}</b><br>%{text} · %{percent}<extra></extra>",
      marker: { line: { color: "#fff", width: 1 } },
    }], {
      showlegend: true, legend: { font: { size: 11 }, x: 1, y: 0.5 }, margin: { l: 4, r: 4, t: 4, b: 4 },
      uniformtext: { minsize: 10, mode: "hide" },
    });
  }

  function renderMap() {
    const cs = DATA.city_sales;
    const sums = sumBy(cs, (i) => cs.city[i], ["revenue", "lines"], true);
    const placed = [], unplaced = [];
    for (const [i, v] of sums) (DATA.cities[i].lat == null ? unplaced : placed).push([DATA.cities[i], v]);
    placed.sort((a, b) => b[1].revenue - a[1].revenue);
    const max = placed.length ? placed[0][1].revenue : 1;
    el("map-note").textContent = unplaced.length
      ? `Not on the map (no coordinates for the name): ${unplaced.map(([c]) => c.name).join(", ")}.`
      : `${count(placed.length)} customer cities; bubble area and colour grow with net revenue.`;
    return draw("chart-map", [
      { type: "scattergeo", mode: "lines", lon: DATA.state_outlines.lon, lat: DATA.state_outlines.lat,
        line: { color: "#c3ccd8", width: 0.8 }, hoverinfo: "skip", fill: "toself", fillcolor: "#f2f4f7" },
      { type: "scattergeo", mode: "markers", lon: placed.map(([c]) => c.lon), lat: placed.map(([c]) => c.lat),
        text: placed.map(([c]) => plotText(c.name + (c.state ? ", " + c.state : c.country ? ", " + c.country : ""))),
        customdata: placed.map(([, v]) => [money(v.revenue), count(v.lines)]),
        hovertemplate: "<b>%{text}</b><br>%{customdata[0]}<br>%{customdata[1]} sale lines<extra></extra>",
        marker: {
          size: placed.map(([, v]) => v.revenue), sizemode: "area", sizeref: (2 * max) / (38 * 38), sizemin: 3,
          color: placed.map(([, v]) => v.revenue), colorscale: "YlOrRd", reversescale: true, cmin: 0, cmax: max,
          line: { color: "rgba(80,20,0,.45)", width: 0.6 }, opacity: 0.85,
          colorbar: { title: { text: "Net revenue", side: "right" }, tickprefix: currencySymbol, exponentformat: "B", thickness: 10, len: 0.8 },
        } },
    ], {
      geo: { scope: "usa", projection: { type: "albers usa" }, showland: false, showlakes: false, showsubunits: false,
        showcountries: false, showcoastlines: false, showframe: false, bgcolor: "rgba(0,0,0,0)" },
      margin: { l: 0, r: 0, t: 0, b: 0 },
    });
  }

  function renderCities() {
    const cs = DATA.city_sales;
    const top = topN(sumBy(cs, (i) => cs.city[i], ["revenue", "lines"], true), "revenue", 10, (i) => DATA.cities[i].id);
    const labels = distinctLabels(top.map(([i]) => DATA.cities[i]), (city) => city.country);
    return rankBars("chart-cities", labels, top.map(([, v]) => v.revenue), money, "#e8590c",
      top.map(([, v]) => `<br>${count(v.lines)} sale lines`));
  }

  function renderProducts() {
    const ps = DATA.product_sales;
    const rows = { d: ps.d, c: ps.p.map((p) => DATA.products[p].c), revenue: ps.revenue, units: ps.units };
    const sums = sumBy(rows, (i) => ps.p[i], ["revenue", "units"], true);
    const id = (p) => DATA.products[p].id;
    const labels = (top) => distinctLabels(top.map(([p]) => DATA.products[p]));
    const category = (p) => plotText(DATA.products[p].c >= 0 ? CATEGORY_LABELS[DATA.products[p].c] : "");
    const byRevenue = topN(sums, "revenue", 10, id);
    const byUnits = topN(sums, "units", 10, id);
    return Promise.all([
      rankBars("chart-products-revenue", labels(byRevenue), byRevenue.map(([, v]) => v.revenue), money, "#2f9e44",
        byRevenue.map(([p, v]) => `<br>${count(v.units)} units · ${category(p)}`)),
      rankBars("chart-products-units", labels(byUnits), byUnits.map(([, v]) => v.units), count, "#5c940d",
        byUnits.map(([p, v]) => `<br>${money(v.revenue)} · ${category(p)}`)),
    ]);
  }

  function renderEmployees() {
    const es = DATA.employee_sales;
    const top = topN(sumBy(es, (i) => es.e[i], ["revenue", "lines"], true), "revenue", 10, (e) => DATA.employees[e].id);
    return rankBars("chart-employees", distinctLabels(top.map(([e]) => DATA.employees[e])), top.map(([, v]) => v.revenue), money, "#7048e8",
      top.map(([, v]) => `<br>${count(v.lines)} sale lines`));
  }

  function renderTopCustomers() {
    const rows = DATA.customers.top;
    el("table-customers").innerHTML =
      "<thead><tr><th>#</th><th>Customer</th><th>City</th><th class=num>Orders</th><th class=num>Net revenue</th>" +
      "<th class=num>Avg order</th><th>Last purchase</th></tr></thead><tbody>" +
      rows.map((r, i) => `<tr data-customer-id="${esc(r.id)}" data-revenue="${r.revenue}"><td>${i + 1}</td>` +
        `<td>${esc(r.name)} <span class="note">#${esc(r.id)}</span></td><td>${esc(r.city)}</td>` +
        `<td class=num>${count(r.orders)}</td><td class=num data-field="revenue">${money(r.revenue)}</td>` +
        `<td class=num>${moneyExact.format(r.aov)}</td><td>${day(r.last)}</td></tr>`).join("") + "</tbody>";
  }

  function renderAov() {
    const bands = DATA.aov_bands;
    const total = bands.reduce((s, b) => s + b.revenue, 0) || 1;
    return draw("chart-aov", [{
      type: "bar", x: bands.map((b) => `${moneyWhole.format(b.low)}–<br>${moneyWhole.format(b.high)}`), y: bands.map((b) => b.revenue),
      marker: { color: ["#d0ebff", "#a5d8ff", "#74c0fc", "#339af0", "#1c7ed6"] },
      text: bands.map((b) => percent.format(b.revenue / total)), textposition: "outside", cliponaxis: false,
      customdata: bands.map((b) => [count(b.customers), money(b.revenue), moneyExact.format(b.orders ? b.revenue / b.orders : 0)]),
      hovertemplate: "Average order %{x}<br>%{customdata[0]} customers<br>%{customdata[1]} net revenue (%{text})<br>%{customdata[2]} per order<extra></extra>",
    }], {
      xaxis: { title: { text: "average order value band", font: { size: 11 } }, automargin: true, fixedrange: true, tickangle: 0 },
      yaxis: Object.assign({}, moneyAxis, { fixedrange: true }), margin: { l: 10, r: 10, t: 16, b: 30 },
    });
  }

  function notComputed(what, command) {
    return `<div class="empty" data-testid="not-computed"><strong>${esc(what)} not computed yet.</strong>` +
      `Run <code>${esc(command)}</code>, then render the dashboard again.</div>`;
  }

  function renderSegments() {
    const body = el("segments-body");
    if (!DATA.segments) {
      body.innerHTML = notComputed("RFM segments", "grocery run --stages segment,publish");
      return Promise.resolve();
    }
    body.innerHTML = '<div class="chart" id="chart-segments" data-chart="segments"></div>';
    const segs = DATA.segments.slice(0, 12);
    const total = segs.reduce((s, g) => s + g.revenue, 0) || 1;
    // A segment of customers who never bought has no recency (null): "–", not 0 days.
    const average = (v, format) => (v == null ? "–" : format(v));
    return rankBars("chart-segments", segs.map((g) => g.segment), segs.map((g) => g.customers), count, "#0c8599",
      segs.map((g) => `<br>customers · ${percent.format(g.revenue / total)} of revenue<br>` +
        `${average(g.recency, oneDecimal.format)} days since last order · ${average(g.frequency, oneDecimal.format)} orders · ` +
        `${average(g.monetary, money)} spent on average`));
  }

  // -- customer look-up and recommendations ------------------------------------------------------
  const L = DATA.lookup;
  const lowerNames = L.name.map((n) => String(n || "").toLowerCase());

  function findCustomers(query) {
    const q = query.trim().toLowerCase().replace(/^#/, "");
    if (!q) return [];
    if (/^\d+$/.test(q)) {
      const i = L.id.findIndex((id) => String(id) === q);
      if (i >= 0) return [i];
    }
    const words = q.split(/\s+/);
    const found = [];
    for (let i = 0; i < lowerNames.length && found.length < 12; i++) {
      if (words.every((w) => lowerNames[i].includes(w))) found.push(i);
    }
    return found;
  }

  function showCustomer(i) {
    const last = L.last[i] >= 0 ? DATA.dates[L.last[i]] : null;
    const segment = L.segment ? L.segments[L.segment[i]] : null;
    let html = `<div class="profile" data-customer-id="${esc(L.id[i])}">` +
      `<span><b data-field="name">${esc(L.name[i])}</b> #${esc(L.id[i])}</span>` +
      `<span>${esc(L.cities[L.city[i]])}</span>` +
      `<span>orders <b data-field="orders">${count(L.orders[i])}</b></span>` +
      `<span>net revenue <b data-field="revenue" data-value="${L.revenue[i]}">${money(L.revenue[i])}</b></span>` +
      `<span>last purchase <b>${day(last)}</b></span>` +
      (segment ? `<span>segment <b data-field="segment">${esc(segment)}</b></span>` : "") + "</div>";
    const R = DATA.recommendations;
    if (!R) {
      html += notComputed("Recommendations", "grocery run --stages recommend,publish");
    } else {
      const from = R.start[i], to = R.start[i + 1];
      if (from === to) {
        html += '<div class="empty">No recommendations for this customer.</div>';
      } else {
        const rows = [];
        for (let k = from; k < to; k++) {
          const p = R.catalog[R.pick[k] >> 1], fallback = R.pick[k] & 1;
          rows.push(`<tr data-product-id="${esc(p.id)}"><td>${k - from + 1}</td><td>${esc(p.name)}</td><td>${esc(p.category)}</td>` +
            `<td>${fallback ? '<span class="badge" title="The customer has no purchase history: best sellers instead">popular pick</span>' : ""}</td></tr>`);
        }
        html += '<div class="table-wrap"><table class="data" data-testid="recommendations"><thead><tr><th>#</th><th>Product</th>' +
          '<th>Category</th><th></th></tr></thead><tbody>' + rows.join("") + "</tbody></table></div>";
      }
    }
    el("lookup-result").innerHTML = html;
    for (const b of el("lookup-matches").querySelectorAll("button")) b.classList.toggle("active", Number(b.dataset.index) === i);
  }

  function setupLookup() {
    const run = () => {
      const found = findCustomers(el("lookup-input").value);
      const matches = el("lookup-matches");
      if (!found.length) {
        matches.innerHTML = "";
        el("lookup-result").innerHTML = '<div class="empty">No customer with that id or name.</div>';
        return;
      }
      matches.innerHTML = found.length > 1
        ? '<div class="matches">' + found.map((i) => `<button type="button" data-index="${i}">${esc(L.name[i])} #${esc(L.id[i])}</button>`).join("") + "</div>"
        : "";
      for (const b of matches.querySelectorAll("button")) b.addEventListener("click", () => showCustomer(Number(b.dataset.index)));
      showCustomer(found[0]);
    };
    el("lookup-form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
    if (DATA.customers.top.length) {
      el("lookup-input").value = String(DATA.customers.top[0].id);
      run();
    }
  }

  function renderRecMetrics() {
    const body = el("rec-metrics-body");
    const rows = DATA.recommendation_metrics;
    if (!rows) { body.innerHTML = notComputed("The recommender's evaluation", "grocery run --stages recommend,publish"); return; }
    if (!rows.length) { body.innerHTML = '<div class="empty">The evaluation has no rows.</div>'; return; }
    // Three decimals tell the models apart at any K; coverage, a share of the catalogue, reads as a percent.
    const fmt = (v, key) => (key === "coverage" && typeof v === "number" ? percent.format(v)
      : typeof v === "number" ? (Number.isInteger(v) ? count(v) : v.toFixed(3)) : typeof v === "boolean" ? (v ? "yes" : "no") : esc(v));
    const labels = { model: "Model", k: "K", precision_at_k: "Precision@K", recall_at_k: "Recall@K", ndcg_at_k: "NDCG@K", coverage: "Coverage" };
    let keys = Object.keys(labels).filter((k) => k in rows[0]);
    if (keys.length < 2) keys = Object.keys(rows[0]);
    const sorted = rows.slice().sort((a, b) => (a.k || 0) - (b.k || 0) || String(a.model).localeCompare(String(b.model)));
    const first = rows[0];
    // The holdout as it applies to the data: sales before the first one are none, whatever the window says.
    let held = "", shorter = "";
    if (first.holdout_start_date) {
      const clipped = META.first_date && first.holdout_start_date < META.first_date;
      held = dayRange(clipped ? META.first_date : first.holdout_start_date, first.holdout_end_date);
      if (clipped) {
        const length = Math.round((Date.parse(first.holdout_end_date) - Date.parse(first.holdout_start_date)) / 86400000) + 1;
        shorter = `the sales start on ${day(META.first_date)}, inside the ${count(length)}-day holdout`;
      }
    }
    if (rows.every((r) => r.users === 0)) {
      // Precision and recall over no one are 0 by convention: a table of them would read as a model that fails.
      body.innerHTML = '<div class="empty" data-testid="not-evaluated"><strong>No customer could be evaluated.</strong>' +
        "It needs customers who bought both before the holdout and in it" +
        (shorter ? `, and ${esc(shorter)}: no purchase comes before it.` : `; none did (held out: ${esc(held || "–")}).`) + "</div>";
      return;
    }
    const note = held
      ? `<p class="note">Purchases held out ${esc(held)}` + (shorter ? ` (${esc(shorter)})` : "") +
        (first.users != null ? ` · ${count(first.users)} customers evaluated` : "") + "; the popularity model is the baseline.</p>"
      : "";
    body.innerHTML = '<div class="table-wrap"><table class="data compact" data-testid="rec-metrics"><thead><tr>' +
      keys.map((k) => `<th${k === "model" ? "" : " class=num"}>${esc(labels[k] || k.replace(/_/g, " ")).replace("@", "<wbr>@")}</th>`).join("") + "</tr></thead><tbody>" +
      sorted.slice(0, 12).map((r) => "<tr>" + keys.map((k) => `<td${k === "model" ? "" : " class=num"}>${fmt(r[k], k)}</td>`).join("") + "</tr>").join("") +
      "</tbody></table></div>" + note;
  }

  function renderQuality() {
    const q = DATA.quality;
    const all = q.tables.reduce((a, t) => ({ received: a.received + t.received, accepted: a.accepted + t.accepted, quarantined: a.quarantined + t.quarantined }),
      { received: 0, accepted: 0, quarantined: 0 });
    const row = (t, name) => `<tr data-table="${esc(name)}"${name === "all tables" ? ' class="total"' : ""}><td>${esc(name)}</td><td class=num>${count(t.received)}</td>` +
      `<td class=num>${count(t.accepted)}</td><td class=num>${count(t.quarantined)}</td>` +
      `<td class=num>${t.received ? percent.format(t.quarantined / t.received) : "–"}</td></tr>`;
    el("table-quality").innerHTML = "<thead><tr><th>Raw table</th><th class=num>Rows received</th><th class=num>Accepted</th>" +
      "<th class=num>Quarantined</th><th class=num>Quarantined %</th></tr></thead><tbody>" +
      q.tables.map((t) => row(t, t.table)).join("") + row(all, "all tables") + "</tbody>";
    const reasons = q.reasons.length
      ? "Quarantined by reason: " + q.reasons.slice(0, 12).map((r) => `<b>${esc(r.table)}</b> ${esc(r.reason)} <b>${count(r.rows)}</b>`).join(" · ")
      : "No row was quarantined.";
    el("quality-reasons").innerHTML = `<p class="note">${reasons}</p><p class="note" data-testid="without-date">` +
      `<b>${count(q.without_date)}</b> accepted sale lines have no date: they stay in staging and are left out of every figure above.</p>`;
    const delivery = (d) => `<tr data-ingest-date="${esc(d.ingest_date)}"><td>${esc(d.ingest_date)}</td>` +
      `<td class=num>${count(d.accepted)}</td><td class=num>${count(d.quarantined)}</td>` +
      `<td class=num>${d.accepted + d.quarantined ? percent.format(d.quarantined / (d.accepted + d.quarantined)) : "–"}</td></tr>`;
    el("table-deliveries").innerHTML = "<thead><tr><th>Delivery (ingest date)</th><th class=num>Accepted</th>" +
      "<th class=num>Quarantined</th><th class=num>Quarantined %</th></tr></thead><tbody>" +
      q.deliveries.map(delivery).join("") + "</tbody>";
  }

  function labelScopes() {
    const text = { "date category": "date · category filters", date: "date filter", none: "all time" };
    for (const panel of document.querySelectorAll(".panel[data-filters]")) {
      const span = document.createElement("span");
      span.className = "scope";
      span.textContent = text[panel.dataset.filters] || "";
      panel.appendChild(span);
    }
  }

  function update() {
    syncFilterInputs();
    renderKpis();
    return Promise.all([renderDaily(), renderCategories(), renderMap(), renderCities(), renderProducts(), renderEmployees()])
      .then(() => { document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1); });
  }

  function start() {
    el("footer").textContent = `Built ${META.generated_at} from the ${META.warehouse} warehouse's marts · ` +
      `sales ${day(META.first_date)} – ${day(META.last_date)} · amounts in ${META.currency}.`;
    labelScopes();
    setupFilters();
    window.addEventListener("resize", fitKpis);
    renderTopCustomers();
    renderQuality();
    renderRecMetrics();
    setupLookup();
    Promise.all([update(), renderAov(), renderSegments()])
      .then(() => { document.body.dataset.ready = "1"; })
      .catch((err) => { console.error(err); document.body.dataset.ready = "error"; });
  }

  start();
})();
