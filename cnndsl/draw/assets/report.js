// cnndsl draw's report: folds the layers into boxes for the blocks that are open, lays them out
// with dagre and draws them as SVG. The data (layers, scopes, source lines) comes from html.py.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const layers = data.layers, scopes = data.scopes;
  // Each layer's scopes, outermost first; each scope's level (1: top-level block).
  const chains = layers.map((layer) => {
    const chain = [];
    for (let s = layer.scope; s >= 0; s = scopes[s].parent) chain.unshift(s);
    return chain;
  });
  const levels = scopes.map((scope) => { let n = 1; for (let p = scope.parent; p >= 0; p = scopes[p].parent) n++; return n; });
  const maxLevel = Math.max(0, ...levels);
  let open = new Set();
  const viewport = document.getElementById("viewport");
  const svg = document.getElementById("diagram");
  const tooltip = document.getElementById("tooltip");
  let view = { x: 0, y: 0, k: 1 }, size = { width: 1, height: 1 };

  function openToDepth(depth) {
    // As summary --depth: None shows every layer; 0 and 1 the top-level rows.
    const shown = depth === null ? Infinity : Math.max(depth, 1);
    open = new Set(scopes.map((_, i) => i).filter((i) => levels[i] < shown));
  }

  function boxOf(index) {
    for (const s of chains[index]) if (!open.has(s)) return "s" + s;
    return "l" + index;
  }

  function count(value) {
    for (const [f, suffix] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]]) if (value >= f) return (value / f).toPrecision(3) + suffix;
    return String(value);
  }
  function bytes(value) {
    for (const [f, unit] of [[2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]]) if (value >= f) return (value / f).toFixed(1) + " " + unit;
    return value + " B";
  }

  function boxes() {
    const result = new Map();
    layers.forEach((layer, i) => {
      const key = boxOf(i);
      let box = result.get(key);
      if (!box) {
        const scope = key[0] === "s" ? scopes[+key.slice(1)] : null;
        box = { key, name: scope ? scope.path : layer.name, kind: scope ? scope.kind : layer.kind,
          family: scope ? "block" : layer.family, params: 0, macs: 0, bytes: 0, layers: 0,
          source: (scope && scope.source) || layer.source,  // a block instance: the line that calls it
          frames: chains[i].filter((s) => open.has(s)) };
        result.set(key, box);
      }
      box.params += layer.params; box.macs += layer.macs; box.bytes += layer.bytes; box.layers += 1;
      box.shape = layer.shape; box.rf = layer.rf;  // a block's figures are its last layer's
    });
    return result;
  }

  function el(name, attributes, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function labelLines(box) {
    const lines = [box.name];
    if (box.kind !== box.name) lines.push(box.kind);
    const figures = [box.params ? count(box.params) + " params" : "", box.macs ? count(box.macs) + " MACs" : ""].filter(Boolean);
    if (figures.length) lines.push(figures.join(", "));
    return lines;
  }
  const isMerge = (box) => box.family === "merge";
  const SYMBOLS = { add: "+", mul: "\u00d7" };

  function draw() {
    const started = performance.now();
    const shown = boxes();
    const g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
    g.setGraph({ rankdir: data.rankdir, nodesep: 18, ranksep: 28, edgesep: 8, marginx: 10, marginy: 10 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const box of shown.values()) {
      box.lines = labelLines(box);
      const symbol = isMerge(box) && SYMBOLS[box.kind];
      const width = symbol ? 24 : Math.max(...box.lines.map((l) => l.length)) * 6.6 + 16;
      g.setNode(box.key, { width, height: symbol ? 24 : box.lines.length * 14 + 8, box });
      for (const s of box.frames) {
        if (!g.hasNode("f" + s)) g.setNode("f" + s, { label: scopes[s].path + " (" + scopes[s].kind + ")", scope: s, paddingTop: 14 });
        const parent = scopes[s].parent;
        if (parent >= 0 && open.has(parent)) g.setParent("f" + s, "f" + parent);
      }
      if (box.frames.length) g.setParent(box.key, "f" + box.frames[box.frames.length - 1]);
    }
    layers.forEach((layer, i) => {
      const head = boxOf(i);
      for (const input of layer.inputs) {
        const tail = boxOf(input);
        if (tail !== head && !g.hasEdge(tail, head)) {
          const text = layers[input].shape;
          g.setEdge(tail, head, { label: text, width: text.length * 5.4, height: 11, labelpos: "c" });
        }
      }
    });
    dagre.layout(g);
    viewport.replaceChildren();
    const frames = el("g", {}, viewport), edges = el("g", {}, viewport), nodes = el("g", {}, viewport);
    for (const id of g.nodes()) {
      const node = g.node(id);
      if (node.scope === undefined) continue;
      const frame = el("g", { class: "frame", "data-scope": scopes[node.scope].path }, frames);
      el("rect", { x: node.x - node.width / 2, y: node.y - node.height / 2, width: node.width, height: node.height, rx: 6 }, frame);
      const title = el("text", { x: node.x - node.width / 2 + 6, y: node.y - node.height / 2 + 11 }, frame);
      title.textContent = "\u2212 " + node.label;
      title.addEventListener("click", () => { open.delete(node.scope); draw(); });
    }
    for (const e of g.edges()) {
      const edge = g.edge(e);
      const group = el("g", { class: "edge" }, edges);
      el("path", { d: "M" + edge.points.map((p) => p.x + "," + p.y).join("L"), "marker-end": "url(#arrow)" }, group);
      const label = el("text", { x: edge.x + 2, y: edge.y + 3 }, group);
      label.textContent = edge.label;
    }
    for (const id of g.nodes()) {
      const node = g.node(id);
      if (!node.box) continue;
      const box = node.box;
      const classes = "box" + (box.family === "block" ? " block" : "") + (isMerge(box) ? " merge" : "");
      const group = el("g", { class: classes, "data-name": box.name, transform: `translate(${node.x},${node.y})` }, nodes);
      const fill = data.colours[box.family];
      const symbol = isMerge(box) && SYMBOLS[box.kind];
      if (symbol) el("ellipse", { rx: 12, ry: 12, fill }, group);
      else el("rect", { x: -node.width / 2, y: -node.height / 2, width: node.width, height: node.height, rx: 5, fill }, group);
      const lines = symbol ? [symbol] : box.lines;
      lines.forEach((line, i) => {
        const text = el("text", { "text-anchor": "middle", y: (i - (lines.length - 1) / 2) * 14 + 4, class: i ? "kind" : "name" }, group);
        text.textContent = line;
      });
      group.addEventListener("mousemove", (event) => showTooltip(box, event));
      group.addEventListener("mouseleave", () => { tooltip.hidden = true; });
      group.addEventListener("click", () => {
        showSource(box);
        if (box.key[0] === "s") { open.add(+box.key.slice(1)); tooltip.hidden = true; draw(); }
      });
    }
    const graph = g.graph();
    size = { width: graph.width || 1, height: graph.height || 1 };
    fit();
    charts([...shown.values()]);
    const ms = performance.now() - started;
    document.getElementById("status").textContent = `${shown.size} boxes, laid out in ${ms.toFixed(0)} ms`;
    document.body.dataset.layoutMs = ms.toFixed(1);
    document.body.dataset.boxes = String(shown.size);
    document.body.dataset.ready = "1";
  }

  function showTooltip(box, event) {
    const rows = [
      `${box.name} (${box.kind})`, `output     ${box.shape}`, `params     ${box.params.toLocaleString("en")}`,
      `MACs       ${box.macs.toLocaleString("en")}`, `activation ${bytes(box.bytes)}`, `receptive  ${box.rf}`,
    ];
    if (box.layers > 1) rows.push(`layers     ${box.layers}`);
    tooltip.textContent = rows.join("\n");
    tooltip.hidden = false;
    tooltip.style.left = event.clientX + 14 + "px";
    tooltip.style.top = event.clientY + 14 + "px";
  }

  function showSource(box) {
    const [file, line] = box.source;
    const where = document.getElementById("source");
    where.replaceChildren();
    const heading = document.createElement("div");
    heading.textContent = `${box.name}: ${data.files[file]}:${line}`;
    const code = document.createElement("pre");
    code.textContent = data.lines[file + ":" + line];
    where.append(heading, code);
  }

  function charts(shown) {
    const where = document.getElementById("charts");
    where.replaceChildren();
    for (const [title, key, text] of [["Params", "params", count], ["MACs", "macs", count], ["Activation memory (batch 1)", "bytes", bytes]]) {
      const chart = document.createElement("div");
      chart.className = "chart";
      const heading = document.createElement("h4");
      heading.textContent = title + " per box";
      chart.append(heading);
      const most = Math.max(1, ...shown.map((box) => box[key]));
      for (const box of shown) {
        const row = document.createElement("div");
        row.className = "bar-row";
        row.innerHTML = '<span class="label"></span><span class="bar"></span><span class="value"></span>';
        row.children[0].textContent = box.name;
        row.children[0].title = box.name;
        row.children[1].style.width = (box[key] / most) * 140 + "px";
        row.children[2].textContent = box[key] ? text(box[key]) : "-";
        chart.append(row);
      }
      where.append(chart);
    }
  }

  function apply() { viewport.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`); }
  function fit() {
    const bounds = svg.getBoundingClientRect();
    const k = Math.min(bounds.width / size.width, bounds.height / size.height, 1.5);
    // Wide enough to read: a tall network starts at its top rather than shrunk to a stripe.
    view.k = Math.max(k, Math.min(1, bounds.width / size.width));
    view.x = (bounds.width - size.width * view.k) / 2;
    view.y = size.height * view.k > bounds.height ? 0 : (bounds.height - size.height * view.k) / 2;
    apply();
  }
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const bounds = svg.getBoundingClientRect();
    const factor = Math.exp(-event.deltaY * 0.0015);
    const px = event.clientX - bounds.left, py = event.clientY - bounds.top;
    view.x = px - (px - view.x) * factor; view.y = py - (py - view.y) * factor; view.k *= factor;
    apply();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", (event) => { drag = { x: event.clientX - view.x, y: event.clientY - view.y }; });
  window.addEventListener("mousemove", (event) => { if (drag) { view.x = event.clientX - drag.x; view.y = event.clientY - drag.y; apply(); } });
  window.addEventListener("mouseup", () => { drag = null; });

  const select = document.getElementById("depth");
  for (let d = 1; d <= maxLevel + 1; d++) select.add(new Option(d > maxLevel ? "all" : String(d), d > maxLevel ? "" : String(d)));
  select.value = data.depth === null || data.depth > maxLevel ? "" : String(Math.max(1, data.depth));
  select.addEventListener("change", () => { openToDepth(select.value === "" ? null : +select.value); draw(); });
  document.getElementById("expand-all").addEventListener("click", () => { openToDepth(null); draw(); });
  document.getElementById("collapse-all").addEventListener("click", () => { openToDepth(1); draw(); });
  document.getElementById("fit").addEventListener("click", fit);
  const legend = document.getElementById("legend");
  const used = new Set(layers.map((layer) => layer.family).concat(scopes.length ? ["block"] : []));
  for (const [family, colour] of Object.entries(data.colours)) {
    if (!used.has(family)) continue;
    const entry = document.createElement("span");
    entry.className = "legend-entry";
    entry.innerHTML = '<span class="swatch"></span>';
    entry.firstChild.style.background = colour;
    entry.append(family);
    legend.append(entry);
  }
  openToDepth(data.depth);
  draw();
})();
