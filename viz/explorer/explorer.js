// microtensor explorer: draws the graph data that viz/explorer/payload.py wrote into this page.
//
// Layout: the textbook grid of an unrolled network (one column per time step, one row per layer
// and direction, layer 0 at the bottom). A closed step is one box coloured by its hidden state's
// gradient; an open step is laid out by Graphviz (WebAssembly) from its ops alone, so opening a
// step costs one small layout, never one of the whole unroll. The nodes outside the steps sit in
// a band below the grid ("before": parameters, inputs) and a block to its right ("after": the
// stacked outputs, the loss). Edges between blocks are drawn here; edges inside a block by Graphviz.
//
// API (used by the page's own buttons and by the tests): window.microtensorExplorer, see
// docs/viz.md. Everything is synchronous once `ready` has resolved.
(function () {
  "use strict";
  const timings = { start: performance.now() };
  const D = JSON.parse(document.getElementById("microtensor-data").textContent);
  timings.parsed = performance.now();
  const SVGNS = "http://www.w3.org/2000/svg";
  const GAP = 24, BOX_W = 96, BOX_H = 36, MARGIN = 40, HEADER = 26, ROW_LABEL = 170;
  const F = {};
  D.fields.forEach((f, i) => { F[f] = i; });
  const TABLES = ["kind", "colors", "status", "name", "op", "scope", "cell", "shape", "dtype"];

  // ----- the data --------------------------------------------------------------------------
  // Rows are decoded into objects only when something looks at them (tens of thousands of them
  // would cost more than the whole first drawing); ids, cells and inputs are read up front.
  const raw = new Map(), decoded = new Map(), cellOf = new Map(), inputsOf = new Map();
  for (const r of D.nodes) {
    const id = r[F.id];
    raw.set(id, r);
    cellOf.set(id, r[F.cell] === null ? null : D.strings.scope[r[F.cell]]);
    inputsOf.set(id, r[F.inputs].map((d) => id - d));
  }
  function decode(id) {
    const r = raw.get(id);
    if (r === undefined) return undefined;
    const n = {};
    for (const f of D.fields) {
      const v = r[F[f]];
      n[f] = TABLES.includes(f) && v !== null ? D.strings[f === "cell" ? "scope" : f][v] : v;
    }
    n.colors = n.colors.split(" ");
    n.inputs = inputsOf.get(id);
    return n;
  }
  const nodes = {
    get(id) { if (!decoded.has(id) && raw.has(id)) decoded.set(id, decode(id)); return decoded.get(id); },
    has(id) { return raw.has(id); },
    ids() { return raw.keys(); },
  };
  const cells = new Map();   // path -> {path, row, t, h, family}
  for (const [path, row, t, h, family] of D.cells) cells.set(path, { path, row, t, h, family });
  const rows = D.rows.length;
  const columns = [...new Set(D.cells.map((c) => c[2]))].sort((a, b) => a - b);
  const columnIndex = new Map(columns.map((t, i) => [t, i]));
  const before = new Set(D.before);
  const roots = new Set(D.roots);
  const kept = new Set(D.roots);     // shown even when the outside nodes are hidden
  const detachedKind = D.strings.kind.indexOf("detached");
  for (const r of D.nodes) if (r[F.kind] === detachedKind) kept.add(r[F.id]);
  const edges = [];                  // [src, dst, label, dashed]
  for (const [id, inputs] of inputsOf) for (const i of inputs) edges.push([i, id, null, false]);
  const cutStubs = [];
  D.cuts.forEach(([src, dst, text], k) => {
    if (src === null) cutStubs.push({ id: "cut" + k, dst, text });
    else edges.push([src, dst, "✂ detach()", true]);
  });
  const consumers = new Map();
  for (const [a, b] of edges) {
    if (!consumers.has(a)) consumers.set(a, []);
    consumers.get(a).push(b);
  }

  // ----- state -----------------------------------------------------------------------------
  const collapsed = new Set(D.open_at_cells ? cells.keys() : []);
  // Scopes above the steps (a direction's row, a layer, a model) closed to ONE box: rowGroup[r]
  // is the outermost closed scope holding row r's family, or null.
  const groups = new Set();
  let rowGroup = new Array(rows).fill(null);
  let outsideShown = !D.open_at_cells || cells.size === 0;
  let revealed = null;               // null: every gradient (the final state); else a Set of ids
  let selected = null;
  let matches = new Set();
  let onPath = new Set();
  let viz = null, panZoom = null;
  const layouts = new Map();         // block key -> {group, w, h, pos: Map(id -> box)}
  let placed = null;                 // unit -> {x, y, w, h} of what is drawn now
  let pending = [];                  // blocks whose node boxes are read once all are placed
  let extent = { w: 0, h: 0 };

  function under(path, scope) { return path === scope || path.startsWith(scope + "/"); }
  function regroup() {
    rowGroup = D.families.map((f) => {
      let best = null;
      for (const g of groups) if (under(f, g) && (best === null || g.length < best.length)) best = g;
      return best;
    });
  }
  function unitOf(id) {
    const cell = cellOf.get(id);
    if (cell === undefined) return null;
    if (cell) {
      const group = rowGroup[cells.get(cell).row];
      if (group !== null) return "g:" + group;
      return collapsed.has(cell) ? "c:" + cell : "n:" + id;
    }
    return outsideShown || kept.has(id) ? "n:" + id : null;
  }
  function blockOf(id) {             // the Graphviz block a shown node is laid out in
    const cell = cellOf.get(id);
    if (cell) return "cell:" + cell;
    return before.has(id) && cells.size ? "before" : "after";
  }

  // ----- DOT of one block ------------------------------------------------------------------
  function esc(text) { return String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"'); }
  function nodeDot(n) {
    const attrs = Object.assign({}, D.kinds[n.kind] || D.kinds.op);
    attrs.label = n.label + "\\n" + n.grad;
    attrs.fillcolor = n.colors[0];
    attrs.fontcolor = n.colors[1];
    attrs.id = "n" + n.id;
    if (n.status === "zero") attrs.color = "#888888";
    const body = Object.entries(attrs).map(([k, v]) => k + '="' + (k === "label" ? v : esc(v)) + '"');
    return "n" + n.id + " [" + body.join(", ") + "];";
  }
  function blockDot(key, ids, title) {
    const inside = new Set(ids);
    const lines = ['digraph "' + esc(key) + '" {', 'graph [rankdir=' + (key === "before" ? "TB" : "LR")
      + ', newrank=true, nodesep=0.2, ranksep=0.3, fontname="Helvetica", bgcolor="transparent"];',
    'node [fontname="Helvetica", fontsize=10, margin="0.06,0.03"];',
    'edge [arrowsize=0.6, color="#666666", fontname="Helvetica", fontsize=8];'];
    if (title) {
      lines.push('subgraph cluster_step { label="' + esc(title) + '"; style="rounded,filled"; '
        + 'fillcolor="#fafafa"; color="#b0b0b0"; fontsize=11; labeljust="l"; id="title_' + esc(key) + '";');
    }
    for (const id of ids) lines.push(nodeDot(nodes.get(id)));
    if (title) lines.push("}");
    for (const [a, b, label, dashed] of edges) {
      if (inside.has(a) && inside.has(b)) {
        lines.push("n" + a + " -> n" + b + ' [id="e' + a + "_" + b + '"'
          + (label ? ', label="' + esc(label) + '"' : "") + (dashed ? ", style=dashed" : "") + "];");
      }
    }
    if (key === "before") {           // one row: nothing ranks the unconnected leaves otherwise
      const leaves = ids.filter((id) => inputsOf.get(id).every((i) => !inside.has(i)));
      lines.push("{rank=same; " + leaves.map((id) => "n" + id).join("; ") + "}");
    }
    lines.push("}");
    return lines.join("\n");
  }
  function layoutBlock(key, ids, title, dot) {
    const cacheKey = key + "|" + ids.join(",");
    if (layouts.has(cacheKey)) return layouts.get(cacheKey);
    const svg = viz.renderSVGElement(dot || blockDot(key, ids, title));
    const graph = svg.querySelector("g.graph");
    const page = graph.querySelector(":scope > polygon");
    if (page) page.remove();                      // Graphviz's page background
    const view = svg.viewBox.baseVal;
    const group = document.createElementNS(SVGNS, "g");
    group.appendChild(graph);
    const result = { group, w: view.width, h: view.height, matrix: graph.transform.baseVal.consolidate().matrix,
      pos: new Map() };
    layouts.set(cacheKey, result);
    return result;
  }
  function nodeBox(layout, id) {
    // From the coordinates Graphviz wrote into the node's outline (absolute, x y pairs), so
    // that no getBBox forces the browser to lay the whole page out before it is finished.
    if (!layout.pos.has(id)) {
      const shape = layout.group.querySelector("#n" + id).querySelector("polygon, path, ellipse");
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      if (shape.tagName === "ellipse") {
        const cx = +shape.getAttribute("cx"), cy = +shape.getAttribute("cy");
        const rx = +shape.getAttribute("rx"), ry = +shape.getAttribute("ry");
        [x0, y0, x1, y1] = [cx - rx, cy - ry, cx + rx, cy + ry];
      } else {
        const v = (shape.getAttribute("points") || shape.getAttribute("d")).match(/-?[\d.]+(e-?\d+)?/g).map(Number);
        for (let i = 0; i + 1 < v.length; i += 2) {
          x0 = Math.min(x0, v[i]); x1 = Math.max(x1, v[i]); y0 = Math.min(y0, v[i + 1]); y1 = Math.max(y1, v[i + 1]);
        }
      }
      const m = layout.matrix;
      layout.pos.set(id, { x: x0 * m.a + m.e, y: y0 * m.d + m.f, w: (x1 - x0) * m.a, h: (y1 - y0) * m.d });
    }
    return layout.pos.get(id);
  }

  // ----- drawing ---------------------------------------------------------------------------
  const root = document.getElementById("mt-svg-root");
  function el(name, attrs, parent) {
    const e = document.createElementNS(SVGNS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, words, attrs) {
    const t = el("text", Object.assign({ x, y, "font-family": "Helvetica", "font-size": 10,
      "text-anchor": "middle" }, attrs || {}), parent);
    t.textContent = words;
    return t;
  }

  function cellBox(path) {           // where a step is drawn now, closed or open
    if (!placed) return null;
    if (placed.has("c:" + path)) return placed.get("c:" + path);
    const ids = [...placed.keys()].filter((u) => u[0] === "n" && cellOf.get(+u.slice(2)) === path);
    if (!ids.length) return null;
    const boxes = ids.map((u) => placed.get(u));
    return { x: Math.min(...boxes.map((b) => b.x)), y: Math.min(...boxes.map((b) => b.y)) };
  }
  function render(focus) {
    // Keep the reader's zoom, and keep the step they opened or closed (``focus``) where it was
    // on the screen, however much the grid around it grows or shrinks.
    let keepView = null;
    if (panZoom) {
      const before = focus ? cellBox(focus) : null;
      keepView = { real: panZoom.getSizes().realZoom, pan: panZoom.getPan(), before };
    }
    if (panZoom) { panZoom.destroy(); panZoom = null; }
    root.innerHTML = "";
    el("defs", {}, root).innerHTML = '<marker id="mt-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
      + 'markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker>';
    const viewport = el("g", { class: "svg-pan-zoom_viewport" }, root);
    extent = { w: 0, h: 0 };
    placed = new Map();
    pending = [];
    const blockIds = new Map();        // block key -> ids shown in it
    for (const id of nodes.ids()) {
      const u = unitOf(id);
      if (u === null || u[0] === "c") continue;
      const key = blockOf(id);
      if (!blockIds.has(key)) blockIds.set(key, []);
      blockIds.get(key).push(id);
    }
    // Grid sizes: closed steps are boxes, open ones their Graphviz layout.
    const slot = new Map();            // cell path -> {w, h, layout|null}
    const colW = columns.map(() => BOX_W), rowH = new Array(rows).fill(BOX_H);
    for (const c of cells.values()) {
      if (rowGroup[c.row] !== null) continue;       // inside a closed row: drawn as its band
      let s = { w: BOX_W, h: BOX_H, layout: null };
      if (!collapsed.has(c.path)) {
        const ids = blockIds.get("cell:" + c.path) || [];
        const lay = layoutBlock("cell:" + c.path, ids, c.family + " · t = " + c.t);
        s = { w: lay.w, h: lay.h, layout: lay };
      }
      slot.set(c.path, s);
      const ci = columnIndex.get(c.t);
      colW[ci] = Math.max(colW[ci], s.w);
      rowH[c.row] = Math.max(rowH[c.row], s.h);
    }
    const legend = layoutBlock("legend", [], null, D.legend);
    const top = MARGIN + legend.h + GAP;
    const colX = [], rowY = [];
    let x = MARGIN + ROW_LABEL;
    columns.forEach((t, i) => { colX.push(x); x += colW[i] + GAP; });
    let y = top + HEADER;
    for (let r = rows - 1; r >= 0; r--) { rowY[r] = y; y += rowH[r] + GAP; }   // layer 0 at the bottom
    const gridRight = cells.size ? x : MARGIN, gridBottom = cells.size ? y : top;
    const afterX = gridRight + (columns.length > 8 ? ROW_LABEL : GAP);
    const layer = el("g", {}, viewport);
    const edgeLayer = el("g", {}, viewport);
    placeBlock(layer, legend, MARGIN, MARGIN);
    columns.forEach((t, i) => text(layer, colX[i] + colW[i] / 2, top + 14, "t = " + t,
      { "font-size": 13, fill: "#444" }));
    // Row titles on both sides of the grid (a long unroll opens at its right end); a click on one
    // closes its row to one box, or opens it again.
    D.rows.forEach((label, r) => {
      const attrs = { "text-anchor": "start", "font-size": 12, fill: "#444", class: "mt-rowlabel", "data-row": r };
      text(layer, MARGIN, rowY[r] + rowH[r] / 2 + 4, label, attrs).appendChild(titleOf(r));
      if (columns.length > 8) text(layer, gridRight, rowY[r] + rowH[r] / 2 + 4, label, attrs).appendChild(titleOf(r));
    });
    drawBrackets(layer, rowY, rowH);
    for (const g of new Set(rowGroup)) if (g !== null) drawBand(layer, g, colX, colW, rowY, rowH);
    for (const c of cells.values()) {
      if (rowGroup[c.row] !== null) continue;
      const s = slot.get(c.path), ci = columnIndex.get(c.t);
      const cx = colX[ci] + (colW[ci] - s.w) / 2, cy = rowY[c.row] + (rowH[c.row] - s.h) / 2;
      if (s.layout) placeBlock(layer, s.layout, cx, cy);
      else drawBox(layer, c, cx, cy);
    }
    const after = blockIds.get("after") || [];
    if (after.length || cutStubs.length) {
      const lay = layoutBlock("after", after, null);
      placeBlock(layer, lay, afterX, Math.max(top, (top + gridBottom - lay.h) / 2));
    }
    const band = blockIds.get("before") || [];
    if (band.length) placeBlock(layer, layoutBlock("before", band, null), MARGIN + ROW_LABEL, gridBottom + GAP);
    timings.boxes = performance.now();
    drawEdges(edgeLayer);
    timings.edges = performance.now();
    // An empty frame of the whole drawing, margins included: fitting the view to the window
    // then keeps a margin round the row titles and the loss instead of cutting them at the edge.
    viewport.insertBefore(el("rect", { x: 0, y: 0, width: Math.ceil(extent.w + MARGIN), height: Math.ceil(extent.h + MARGIN),
      fill: "none", "pointer-events": "none", class: "mt-frame" }), viewport.firstChild);
    paint();
    root.setAttribute("data-width", Math.ceil(extent.w + MARGIN));
    root.setAttribute("data-height", Math.ceil(extent.h + MARGIN));
    panZoom = svgPanZoom(root, { viewportSelector: ".svg-pan-zoom_viewport", zoomScaleSensitivity: 0.3,
      minZoom: 0.02, maxZoom: 20, dblClickZoomEnabled: false, fit: !keepView, center: !keepView });
    if (keepView) {
      panZoom.zoom(keepView.real / panZoom.getSizes().realZoom * panZoom.getZoom());
      const after = focus ? cellBox(focus) : null, real = panZoom.getSizes().realZoom;
      const s = keepView.before && after ? keepView : null;
      if (s) panZoom.pan({ x: s.pan.x + (s.before.x - after.x) * real, y: s.pan.y + (s.before.y - after.y) * real });
      else panZoom.pan(keepView.pan);
    } else openingView();
  }
  function openingView() {
    // A long unroll fitted to the window is unreadable: show the last steps (where the loss is)
    // at a readable size instead; the reader pans back in time.
    if (panZoom.getSizes().realZoom < 0.45) {
      panZoom.zoom(0.7 / panZoom.getSizes().realZoom * panZoom.getZoom());
      const s = panZoom.getSizes();
      panZoom.pan({ x: s.width - s.viewBox.width * s.realZoom, y: 10 });
    }
  }
  function grow(x, y, w, h) { extent.w = Math.max(extent.w, x + w); extent.h = Math.max(extent.h, y + h); }
  function placeBlock(parent, layout, x, y) {
    layout.group.setAttribute("transform", "translate(" + x + "," + y + ")");
    parent.appendChild(layout.group);
    layout.x = x; layout.y = y;
    grow(x, y, layout.w, layout.h);
    for (const g of layout.group.querySelectorAll("g.node")) {
      const id = +g.id.slice(1);
      if (!nodes.has(id)) continue;
      g.classList.add("mt-unit");
      g.setAttribute("data-unit", "n:" + id);
      const title = g.querySelector("title");
      if (title) title.remove();                  // our tooltip, not the browser's
    }
    pending.push(layout);
    const heading = layout.group.querySelector("g.cluster");
    if (heading) heading.setAttribute("data-cell", layout.group.querySelector("g.node") ? cellOfBlock(layout) : "");
  }
  function titleOf(r) {
    const t = document.createElementNS(SVGNS, "title");
    t.textContent = rowGroup[r] !== null ? "click to open " + groupLabel(rowGroup[r]) + " again"
      : "click to close this row to one box";
    return t;
  }
  function groupRows(scope) { return D.families.map((f, r) => (under(f, scope) ? r : -1)).filter((r) => r >= 0); }
  function groupColumns(scope) {     // the column indices of the steps a closed scope holds
    const rs = groupRows(scope), out = new Set();
    for (const c of cells.values()) if (rs.includes(c.row)) out.add(columnIndex.get(c.t));
    return [...out].sort((a, b) => a - b);
  }
  function groupLabel(scope) {
    const steps = groupColumns(scope).length;
    return D.scope_labels[scope] + ", " + steps + (steps === 1 ? " step" : " steps");
  }
  function drawBrackets(parent, rowY, rowH) {
    // A bracket left of the row titles for each scope over several rows (a bidirectional layer,
    // a model): a click on it closes that scope to one box, or opens it again.
    const multi = Object.keys(D.scope_labels).filter((scope) => groupRows(scope).length > 1);
    const depth = (scope) => scope.split("/").length;
    const deepest = Math.max(...multi.map(depth));
    for (const scope of multi) {
      const rs = groupRows(scope), lo = Math.min(...rs), hi = Math.max(...rs);
      const x = MARGIN - 8 - 9 * (deepest - depth(scope)), top = rowY[hi] + 4, bottom = rowY[lo] + rowH[lo] - 4;
      const g = el("g", { class: "mt-bracket", "data-scope": scope }, parent);
      const t = el("title", {}, g);
      t.textContent = "click to " + (groups.has(scope) ? "open " : "close ") + D.scope_labels[scope]
        + (groups.has(scope) ? " again" : " to one box");
      el("rect", { x: x - 4, y: top, width: 8, height: bottom - top, fill: "transparent" }, g);
      el("path", { d: "M" + (x + 3) + "," + top + " H" + x + " V" + bottom + " H" + (x + 3), fill: "none",
        stroke: groups.has(scope) ? "#333" : "#999", "stroke-width": 1.5 }, g);
    }
  }
  function drawBand(parent, scope, colX, colW, rowY, rowH) {
    // A closed row (or rows: a layer, a model) is one box over the whole grid, striped with the
    // colour of each step's hidden state: what it stands for, the gradient fading through time.
    const rs = groupRows(scope), lo = Math.min(...rs), hi = Math.max(...rs), span = groupColumns(scope);
    const first = span[0], last = span[span.length - 1];
    const x = colX[first], y = rowY[hi], w = colX[last] + colW[last] - colX[first], h = rowY[lo] + rowH[lo] - rowY[hi];
    const unit = "g:" + scope;
    const g = el("g", { class: "mt-unit mt-band", "data-unit": unit }, parent);
    const clip = "mt-clip-" + [...scope].map((ch) => ch.charCodeAt(0).toString(16)).join("");
    el("clipPath", { id: clip }, g).appendChild(el("rect", { x, y, width: w, height: h, rx: 8, ry: 8 }));
    const stripes = el("g", { "clip-path": "url(#" + clip + ")" }, g);
    for (const c of cells.values()) {
      if (!rs.includes(c.row) || c.h === null) continue;
      const ci = columnIndex.get(c.t);
      const top = c.row === hi ? y : rowY[c.row] - GAP / 2, bottom = c.row === lo ? y + h : rowY[c.row] + rowH[c.row] + GAP / 2;
      el("rect", { x: colX[ci] - GAP / 2, y: top, width: colW[ci] + GAP, height: bottom - top, "data-h": c.h,
        class: "mt-stripe" }, stripes);
    }
    el("rect", { x, y, width: w, height: h, rx: 8, ry: 8, fill: "none", stroke: "#333", "stroke-width": 1.5,
      class: "mt-band-frame" }, g);
    const label = groupLabel(scope);
    const ends = span.length > 8 ? [x + 8, x + w - 8] : [x + 8];
    ends.forEach((at, k) => {
      const words = text(g, at, y + h / 2 + 4, label, { "text-anchor": k ? "end" : "start", "font-size": 12,
        "font-weight": "bold", fill: "#222", stroke: "white", "stroke-width": 3, "paint-order": "stroke" });
      words.classList.add("mt-band-label");
    });
    placed.set(unit, { x, y, w, h, band: true });
    grow(x, y, w, h);
  }
  function cellOfBlock(layout) {
    const first = layout.group.querySelector("g.node");
    const n = first && nodes.get(+first.id.slice(1));
    return n && n.cell ? n.cell : "";
  }
  function drawBox(parent, c, x, y) {
    const unit = "c:" + c.path;
    const g = el("g", { class: "mt-unit mt-box", "data-unit": unit }, parent);
    // The row and column headers say which cell and step it is: the box shows its ∇h alone
    // (one text per box keeps a 200-step page quick to lay out).
    el("rect", { x, y, width: BOX_W, height: BOX_H, rx: 8, ry: 8, stroke: "#666", "stroke-width": 1 }, g);
    text(g, x + BOX_W / 2, y + BOX_H / 2 + 4, "", { "font-size": 11 });
    placed.set(unit, { x, y, w: BOX_W, h: BOX_H });
    grow(x, y, BOX_W, BOX_H);
  }
  function crossEdges() {
    const list = edges.slice();
    if (!outsideShown) for (const e of D.contracted) list.push([e[0], e[1], e[2], false]);
    const seen = new Map();
    for (const [a, b, label, dashed] of list) {
      const ua = unitOf(a), ub = unitOf(b);
      if (ua === null || ub === null || ua === ub) continue;
      if (ua[0] === "n" && ub[0] === "n" && blockOf(a) === blockOf(b)) continue;   // Graphviz drew it
      const key = ua + ">" + ub;
      // "+ 4 other steps" says which step an edge stands for: a closed row stands for them all.
      if (!seen.has(key)) seen.set(key, { ua, ub, label: ua[0] === "g" ? null : label, dashed, pairs: [] });
      seen.get(key).pairs.push([a, b]);
    }
    return [...seen.values()];
  }
  function drawEdges(parent) {
    for (const layout of pending) {              // the first getBBox lays the page out, once
      for (const g of layout.group.querySelectorAll("g.node[data-unit]")) {
        const id = +g.id.slice(1), b = nodeBox(layout, id);
        placed.set("n:" + id, { x: layout.x + b.x, y: layout.y + b.y, w: b.w, h: b.h });
      }
    }
    for (const e of crossEdges()) {
      let p = placed.get(e.ua), q = placed.get(e.ub);
      if (!p || !q) continue;
      [p, q] = [bandEnd(p, q), bandEnd(q, p)];
      const pcx = p.x + p.w / 2, pcy = p.y + p.h / 2, qcx = q.x + q.w / 2, qcy = q.y + q.h / 2;
      let d;
      if (Math.abs(qcx - pcx) >= Math.abs(qcy - pcy)) {
        const dir = qcx > pcx ? 1 : -1;
        const x1 = pcx + dir * p.w / 2, x2 = qcx - dir * q.w / 2, bend = Math.max(12, Math.abs(x2 - x1) / 2);
        d = "M" + x1 + "," + pcy + " C" + (x1 + dir * bend) + "," + pcy + " " + (x2 - dir * bend) + "," + qcy + " " + x2 + "," + qcy;
      } else if (Math.abs(qcy - pcy) > 1.5 * (p.h + GAP) && Math.abs(qcx - pcx) < GAP) {
        // Past another row of the same column: out of the source's side into the gap between
        // the columns, along it, and into the target's bottom (or top) edge, so that it neither
        // crosses the boxes in between nor looks like a recurrence arriving from the side.
        const side = Math.min(p.x, q.x) - GAP / 3, up = qcy < pcy;
        const edgeY = up ? q.y + q.h : q.y, enter = q.x + 10;
        d = "M" + p.x + "," + pcy + " H" + side + " V" + (edgeY + (up ? 12 : -12))
          + " L" + enter + "," + (edgeY + (up ? 6 : -6)) + " V" + edgeY;
      } else {
        const dir = qcy > pcy ? 1 : -1;
        const y1 = pcy + dir * p.h / 2, y2 = qcy - dir * q.h / 2, bend = Math.max(12, Math.abs(y2 - y1) / 2);
        d = "M" + pcx + "," + y1 + " C" + pcx + "," + (y1 + dir * bend) + " " + qcx + "," + (y2 - dir * bend) + " " + qcx + "," + y2;
      }
      const path = el("path", { d, fill: "none", stroke: "#666", "stroke-width": 1, "marker-end": "url(#mt-arrow)",
        "data-from": e.ua, "data-to": e.ub }, parent);
      if (e.dashed) path.setAttribute("stroke-dasharray", "5,3");
      if (e.label && q.x > p.x + p.w) {
        // Several rows' "+ n other steps" converge on one node (the loss): each says it over its
        // own source, in the gap above it, clear of the other labels and of the row titles.
        text(parent, p.x + p.w, p.y - 3, e.label, { "font-size": 9, fill: "#555", "text-anchor": "end" });
      } else if (e.label) text(parent, (pcx + qcx) / 2, (pcy + qcy) / 2 - 4, e.label, { "font-size": 9, fill: "#555" });
    }
  }

  function bandEnd(p, other) {
    // An edge meets a closed row where the other end is (above or below it), and two closed rows
    // meet at their right end, next to the loss.
    if (!p.band) return p;
    const at = other.band ? Math.min(p.x + p.w, other.x + other.w) - BOX_W
      : Math.max(p.x, Math.min(p.x + p.w - BOX_W, other.x + other.w / 2 - BOX_W / 2));
    return { x: at, y: p.y, w: BOX_W, h: p.h };
  }

  // ----- colours: the backward replay, search, selection, path -----------------------------
  function shownColors(n) {
    if (revealed !== null && !revealed.has(n.id) && n.status !== "nograd") return D.unreached;
    return n.colors;
  }
  function gradWords(n) {
    return revealed !== null && !revealed.has(n.id) && n.status !== "nograd" ? "∇ not reached" : n.grad;
  }
  function paint() {
    for (const g of root.querySelectorAll("[data-unit]")) {
      const u = g.getAttribute("data-unit");
      if (u[0] === "g") {
        for (const r of g.querySelectorAll("rect[data-h]")) r.setAttribute("fill", shownColors(nodes.get(+r.getAttribute("data-h")))[0]);
        g.classList.toggle("mt-match", anyIn(u, matches));
        g.classList.toggle("mt-selected", selected !== null && unitOf(selected) === u);
        g.classList.toggle("mt-onpath", anyIn(u, onPath));
        continue;
      }
      const n = u[0] === "n" ? nodes.get(+u.slice(2)) : nodes.get(cells.get(u.slice(2)).h);
      const [fill, font] = n ? shownColors(n) : ["#eeeeee", "#555555"];
      const shape = g.querySelector("rect, polygon, path, ellipse");
      if (shape) shape.setAttribute("fill", fill);
      const texts = g.querySelectorAll("text");
      texts.forEach((t) => t.setAttribute("fill", font));
      if (n && texts.length) {
        const last = texts[texts.length - 1];
        last.textContent = u[0] === "c" ? gradWords(n).replace("∇", "∇h") : gradWords(n);
      }
      const ids = u[0] === "n" ? [+u.slice(2)] : null;
      g.classList.toggle("mt-match", ids ? matches.has(ids[0]) : anyIn(u, matches));
      g.classList.toggle("mt-selected", selected !== null && unitOf(selected) === u);
      g.classList.toggle("mt-onpath", ids ? onPath.has(ids[0]) : anyIn(u, onPath));
    }
    const pathPairs = unitsOnPath();
    for (const p of root.querySelectorAll("path[data-from]")) {
      p.classList.toggle("mt-onpath", pathPairs.has(p.getAttribute("data-from") + ">" + p.getAttribute("data-to")));
    }
    for (const g of root.querySelectorAll("g.edge")) {
      const m = /^e(\d+)_(\d+)$/.exec(g.id);
      g.classList.toggle("mt-onpath", !!m && onPath.has(+m[1]) && onPath.has(+m[2]) && pathNext.get(+m[1]) === +m[2]);
    }
  }
  function anyIn(unit, set) {
    if (!set.size) return false;
    for (const id of set) if (unitOf(id) === unit) return true;
    return false;
  }

  // The path of largest gradient: the widest path from the loss (every node's best path makes
  // its smallest gradient as large as possible), one pass against the backward order.
  const pathNext = new Map(), width = new Map();
  for (const id of D.order) {
    const mag = raw.has(id) ? raw.get(id)[F.mag] : null;
    if (mag === null) continue;
    if (roots.has(id)) { width.set(id, mag); continue; }
    for (const c of consumers.get(id) || []) {
      if (!width.has(c)) continue;
      const w = Math.min(width.get(c), mag);
      if (!width.has(id) || w > width.get(id)) { width.set(id, w); pathNext.set(id, c); }
    }
  }
  function pathTo(id) {
    const path = [id];
    while (pathNext.has(path[path.length - 1])) path.push(pathNext.get(path[path.length - 1]));
    return path;
  }
  let pathList = [];
  function unitsOnPath() {            // consecutive drawn units along the path (hidden ones skipped)
    const pairs = new Set();
    let last = null;
    for (const id of pathList) {
      const u = unitOf(id);
      if (u === null || u === last) continue;
      if (last !== null) pairs.add(last + ">" + u);
      last = u;
    }
    return pairs;
  }

  // ----- the panel and the tooltip ---------------------------------------------------------
  function heatSvg(code, shape) {
    if (!code) return "";
    const [scale, digits] = code.split(":");
    const dims = shape === "scalar" ? [] : shape.split("×").map(Number);
    const rowsN = dims.length >= 2 ? dims.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
    const colsN = dims.length ? dims[dims.length - 1] : 1;
    const r = Math.min(rowsN, 16), c = Math.min(colsN, 16), size = Math.max(4, Math.min(14, Math.floor(180 / c)));
    let out = '<svg width="' + c * size + '" height="' + r * size + '">';
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < c; j++) {
        const q = parseInt(digits[i * c + j], 16);
        out += '<rect x="' + j * size + '" y="' + i * size + '" width="' + size + '" height="' + size
          + '" fill="' + heatColor(q) + '"/>';
      }
    }
    const note = rowsN > 16 || colsN > 16 ? ", block means of " + shape : "";
    return out + "</svg><br><span>±" + scale + note + "</span>";
  }
  function heatColor(q) {              // 0 = NaN/Inf (red, as in the graph); 1..15: purple - white - orange
    if (q === 0) return "#e31a1c";
    const v = (q - 8) / 7, a = Math.abs(v);
    const [r, g, b] = v < 0 ? [94, 60, 153] : [230, 97, 1];
    const mix = (x) => Math.round(255 + (x - 255) * a);
    return "rgb(" + mix(r) + "," + mix(g) + "," + mix(b) + ")";
  }
  function row(k, v) { return "<tr><td>" + k + "</td><td>" + escHtml(v) + "</td></tr>"; }
  function escHtml(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;"); }
  function panelHtml(n) {
    const title = n.name || n.op || n.kind;
    let h = "<h3>" + escHtml(title) + "</h3><table>";
    h += row("node", "#" + n.id + " (" + n.kind.replace("_tensor", "") + ")");
    h += row("op", n.op || "none (a leaf)");
    h += row("scope", n.scope || "(top level)");
    h += row("shape", n.shape) + row("dtype", n.dtype);
    h += row("value min / mean / max", n.value);
    if (n.l2 === null) h += row("gradient", n.grad === "no grad" ? "not required" : "none kept");
    else h += row("gradient L2 norm", n.l2) + row("gradient max |entry|", n.maxabs);
    if (revealed !== null && !revealed.has(n.id) && n.status !== "nograd") h += row("backward", "not reached yet");
    h += "</table>";
    h += '<div class="mt-heat"><b>value</b><br>' + heatSvg(n.vheat, n.shape) + "</div>";
    if (n.gheat) h += '<div class="mt-heat"><b>gradient</b><br>' + heatSvg(n.gheat, n.shape) + "</div>";
    return h;
  }
  const panel = document.getElementById("mt-panel");
  const tip = document.getElementById("mt-tip");
  function bandGrads(scope) {
    // The range of the hidden states' gradients a closed row stands for, as the replay has them.
    const rs = groupRows(scope), mags = [];
    for (const c of cells.values()) {
      const n = rs.includes(c.row) && c.h !== null ? nodes.get(c.h) : null;
      if (!n || (revealed !== null && !revealed.has(n.id))) continue;
      if (n.status === "zero") mags.push([0, "0"]);
      else if (n.mag !== null) mags.push([n.mag, n.grad]);
    }
    if (!mags.length) return "∇h not reached";
    mags.sort((a, b) => a[0] - b[0]);
    return "∇h from " + mags[0][1].replace("∇ ", "") + " to " + mags[mags.length - 1][1].replace("∇ ", "");
  }
  function nodeOfUnit(u) { return u[0] === "n" ? nodes.get(+u.slice(2)) : nodes.get(cells.get(u.slice(2)).h); }
  root.addEventListener("mousemove", (ev) => {
    const g = ev.target.closest && ev.target.closest("[data-unit]");
    if (!g) { tip.style.display = "none"; return; }
    const u = g.getAttribute("data-unit"), n = u[0] === "g" ? null : nodeOfUnit(u);
    if (u[0] === "g") tip.textContent = groupLabel(u.slice(2)) + " (closed: click to open)\n" + bandGrads(u.slice(2));
    else if (!n) return;
    else tip.textContent = (u[0] === "c" ? u.slice(2) + " (closed: click to open)\nhidden state " : "")
      + (n.name ? n.name + " = " : "") + (n.op || n.kind) + "   " + n.shape + "\n" + gradWords(n)
      + (n.scope ? "\n" + n.scope : "");
    tip.style.left = ev.clientX + 14 + "px";
    tip.style.top = ev.clientY + 14 + "px";
    tip.style.display = "block";
  });
  root.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  let downAt = null;
  root.addEventListener("mousedown", (ev) => { downAt = [ev.clientX, ev.clientY]; });
  root.addEventListener("click", (ev) => {
    if (downAt && Math.hypot(ev.clientX - downAt[0], ev.clientY - downAt[1]) > 4) return;   // a pan
    const g = ev.target.closest && ev.target.closest("[data-unit]");
    const bracket = ev.target.closest && ev.target.closest("[data-scope]");
    if (bracket) {
      const scope = bracket.getAttribute("data-scope");
      if (groups.has(scope)) api.expand(scope);
      else api.collapse(scope);
      return;
    }
    const label = ev.target.closest && ev.target.closest("[data-row]");
    if (label) {
      const r = +label.getAttribute("data-row");
      if (rowGroup[r] !== null) api.expand(rowGroup[r]);
      else api.collapse(D.families[r]);
      return;
    }
    if (g) {
      const u = g.getAttribute("data-unit");
      if (u[0] === "c" || u[0] === "g") api.expand(u.slice(2));
      else api.select(+u.slice(2));
      return;
    }
    const cluster = ev.target.closest && ev.target.closest("g.cluster[data-cell]");
    if (cluster && cluster.getAttribute("data-cell")) api.collapse(cluster.getAttribute("data-cell"));
  });

  // ----- the API ---------------------------------------------------------------------------
  function scopePath(scope) {
    if (typeof scope !== "string" || !scope.replace(/\/+$/, "")) {
      throw new Error("expand/collapse need a scope path such as 'lstm/l0/t3' (a step), 'lstm/l0/reverse' "
        + "(a direction), 'lstm/l0' (a layer)");
    }
    return scope.replace(/\/+$/, "");
  }
  function stepOf(s) { return [...cells.keys()].find((p) => under(s, p)); }     // the step holding s
  function noScope(scope) {
    return new Error("no layer, direction or time step in scope '" + scope + "' (scopes here look like '"
      + [...cells.keys()][0] + "' or '" + D.families[0] + "')");
  }
  function visible() {
    const out = [];
    for (const id of nodes.ids()) { const u = unitOf(id); if (u && u[0] === "n") out.push(id); }
    for (const c of cells.values()) if (rowGroup[c.row] === null && collapsed.has(c.path)) out.push(c.path);
    for (const g of new Set(rowGroup)) if (g !== null) out.push(g);
    return out;
  }
  function unitName(u) { return u[0] === "n" ? +u.slice(2) : u.slice(2); }
  const api = {
    ready: null,
    nodes: visible,
    edges() {                          // [from, to] between the units shown now, as nodes() names them
      const out = [];
      for (const e of crossEdges()) out.push([unitName(e.ua), unitName(e.ub)]);
      for (const [a, b] of edges) {
        const ua = unitOf(a), ub = unitOf(b);
        if (ua !== null && ub !== null && ua !== ub && ua[0] === "n" && ub[0] === "n" && blockOf(a) === blockOf(b)) out.push([a, b]);
      }
      return out;
    },
    expand(scope) {
      // A closed scope holding or under ``scope`` opens again (its steps as they were); a step
      // opens to its ops; a layer or direction that is not closed opens all its steps.
      const s = scopePath(scope), step = stepOf(s);
      const reopened = [...groups].filter((g) => under(s, g) || under(g, s));
      reopened.forEach((g) => groups.delete(g));
      regroup();
      if (step) collapsed.delete(step);
      else if (!reopened.length) {
        const hit = [...cells.keys()].filter((p) => under(p, s));
        if (!hit.length) throw noScope(scope);
        hit.forEach((c) => collapsed.delete(c));
      }
      render(step || null);
      return visible();
    },
    collapse(scope) {
      // A time step (or a scope inside one) closes to one box per cell; a direction, a layer or a
      // model closes to ONE box over its rows.
      const s = scopePath(scope), step = stepOf(s);
      if (step) collapsed.add(step);
      else {
        const rs = groupRows(s);
        if (!rs.length) throw noScope(scope);
        if (Math.max(...rs) - Math.min(...rs) + 1 !== rs.length) {
          throw new Error("'" + s + "' cannot close to one box: its rows are not next to each other");
        }
        groups.add(s);
        regroup();
      }
      render(step || null);
      return visible();
    },
    showOutside(flag) {
      outsideShown = !!flag || cells.size === 0;
      document.getElementById("mt-outside").checked = outsideShown;
      render();
      return visible();
    },
    select(id) {
      const n = nodes.get(id);
      if (!n) throw new Error("no node with id " + id + " (ids are the trace's, e.g. " + D.nodes[0][F.id] + ")");
      selected = id;
      panel.innerHTML = panelHtml(n);
      paint();
      return panel.innerText;
    },
    backwardStep(k) {
      const steps = Math.max(0, Math.min(D.order.length, Math.floor(k)));
      revealed = steps >= D.order.length ? null : new Set(D.order.slice(0, steps));
      slider.value = steps;
      stepText.textContent = steps + " / " + D.order.length;
      paint();
      if (selected !== null) panel.innerHTML = panelHtml(nodes.get(selected));
      return D.order.slice(0, steps);
    },
    backwardOrder() { return D.order.slice(); },
    search(query) {
      const q = String(query || "").trim().toLowerCase();
      matches = new Set();
      if (q) {
        const hit = (table) => new Set(D.strings[table].map((v, i) => (v.toLowerCase().includes(q) ? i : -1)).filter((i) => i >= 0));
        const names = hit("name"), ops = hit("op"), scopes = hit("scope");
        for (const r of D.nodes) {
          if (names.has(r[F.name]) || ops.has(r[F.op]) || scopes.has(r[F.scope])) matches.add(r[F.id]);
        }
      }
      document.getElementById("mt-found").textContent = q ? matches.size + " found" : "";
      paint();
      return [...matches];
    },
    highlightPath(id) {
      if (!nodes.has(id)) throw new Error("no node with id " + id);
      pathList = pathTo(id);
      onPath = new Set(pathList);
      paint();
      return pathList.slice();
    },
    fit() { panZoom.resize(); panZoom.fit(); panZoom.center(); return panZoom.getSizes().realZoom; },
    exportPNG(scale) {               // a Promise of the drawing as a PNG data URL, at 2x by default
      const factor = scale || 2;
      return new Promise((resolve, reject) => {
        const image = new Image();
        image.onload = () => {
          const canvas = document.createElement("canvas");
          canvas.width = Math.ceil(image.width * factor);
          canvas.height = Math.ceil(image.height * factor);
          const ctx = canvas.getContext("2d");
          ctx.fillStyle = "white";
          ctx.fillRect(0, 0, canvas.width, canvas.height);
          ctx.scale(factor, factor);
          ctx.drawImage(image, 0, 0);
          const url = canvas.toDataURL("image/png");
          // Past the browser's canvas limits toDataURL gives an empty "data:," instead of failing.
          if (!url.startsWith("data:image/png")) {
            reject(new Error("the drawing (" + canvas.width + " × " + canvas.height + " px at scale " + factor
              + ") is too large for this browser's canvas: export SVG, or call exportPNG(1)"));
          } else resolve(url);
        };
        image.onerror = () => reject(new Error("the drawing could not be rasterised to PNG"));
        image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(api.exportSVG());
      });
    },
    exportSVG() {
      const copy = root.cloneNode(true);
      const vp = copy.querySelector(".svg-pan-zoom_viewport");
      vp.removeAttribute("transform");
      vp.removeAttribute("style");
      copy.querySelectorAll("[data-unit]").forEach((g) => g.removeAttribute("data-unit"));
      const w = root.getAttribute("data-width"), h = root.getAttribute("data-height");
      copy.setAttribute("viewBox", "0 0 " + w + " " + h);
      copy.setAttribute("width", w);
      copy.setAttribute("height", h);
      copy.setAttribute("style", "background:white");
      const style = document.createElementNS(SVGNS, "style");
      style.textContent = [...document.styleSheets].map((s) => [...s.cssRules].map((r) => r.cssText).join("\n")).join("\n");
      copy.insertBefore(style, copy.firstChild);
      return new XMLSerializer().serializeToString(copy);
    },
  };
  window.microtensorExplorer = api;

  // ----- the bar ---------------------------------------------------------------------------
  const slider = document.getElementById("mt-slider"), stepText = document.getElementById("mt-step");
  slider.max = D.order.length;
  slider.value = D.order.length;
  stepText.textContent = D.order.length + " / " + D.order.length;
  slider.addEventListener("input", () => { stopPlay(); api.backwardStep(+slider.value); });
  let timer = null;
  const playButton = document.getElementById("mt-play");
  function stopPlay() { if (timer) { clearInterval(timer); timer = null; playButton.innerHTML = "&#9654; backward"; } }
  playButton.addEventListener("click", () => {
    if (timer) { stopPlay(); return; }
    // About ten seconds for the whole pass, however long it is.
    const per = Math.max(1, Math.ceil(D.order.length / 200));
    let k = +slider.value >= D.order.length ? 0 : +slider.value;
    api.backwardStep(k);
    playButton.innerHTML = "&#10074;&#10074; pause";
    timer = setInterval(() => { k += per; api.backwardStep(k); if (k >= D.order.length) stopPlay(); }, 50);
  });
  document.getElementById("mt-cells").addEventListener("click", () => {
    groups.clear(); regroup(); cells.forEach((c, p) => collapsed.add(p)); render();
  });
  document.getElementById("mt-ops").addEventListener("click", () => {
    if (cells.size > 40 && !window.confirm("Open all " + cells.size + " steps? Laying them out takes a while.")) return;
    groups.clear(); regroup(); collapsed.clear(); render();
  });
  const outsideBox = document.getElementById("mt-outside");
  outsideBox.checked = outsideShown;
  outsideBox.disabled = cells.size === 0;
  outsideBox.addEventListener("change", () => api.showOutside(outsideBox.checked));
  const searchBox = document.getElementById("mt-search");
  searchBox.addEventListener("input", () => api.search(searchBox.value));
  searchBox.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || !matches.size) return;
    const first = [...matches][0], n = nodes.get(first);
    if (n.cell && unitOf(first) !== "n:" + first) api.expand(n.cell);     // closed: open its step
    api.select(first);
  });
  document.getElementById("mt-path").addEventListener("click", () => {
    const target = selected !== null ? selected : D.order[D.order.length - 1];
    if (target !== undefined) api.highlightPath(target);
  });
  function download(name, blob) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  document.getElementById("mt-svg").addEventListener("click", () =>
    download("microtensor.svg", new Blob([api.exportSVG()], { type: "image/svg+xml" })));
  document.getElementById("mt-png").addEventListener("click", () =>
    api.exportPNG().then((url) => fetch(url)).then((r) => r.blob()).then((blob) => download("microtensor.png", blob),
      (error) => window.alert(error.message)));

  timings.built = performance.now();
  api.timings = timings;
  api.ready = Viz.instance().then((instance) => {
    viz = instance;
    timings.graphviz = performance.now();
    render();
    timings.rendered = performance.now();
    // The open time ends when the browser has painted the drawing: the frame after render().
    return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  }).then(() => {
    api.loadedAt = performance.now();          // ms since navigation began: the page's open time
    window.microtensorExplorerReady = true;
    return api;
  });
})();
