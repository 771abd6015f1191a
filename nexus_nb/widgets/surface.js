// The page code of every nexus_nb view: a column of parts (plots, HTML blocks,
// channel controls), kept in step with the kernel by the protocol described in
// nexus_nb/widgets/surface.py. Plain ES module; the only API used is
// anywidget's (model.get, model.on("msg:custom"), model.send) and plotly.js's
// public one (Plotly.react, the gd.on events).

const LIBRARY = "__nexus_nb_plotly__";
const ASK_AGAIN_MS = 10000;

// plotly.js, once per page however many plots and widgets show it: the first
// view that needs it asks its kernel, and every view waits on the same promise.
function library() {
  let lib = globalThis[LIBRARY];
  if (!lib) {
    lib = { Plotly: null, asked: -Infinity };
    lib.ready = new Promise((resolve) => (lib.resolve = resolve));
    globalThis[LIBRARY] = lib;
  }
  return lib;
}

function needPlotly(model) {
  const lib = library();
  if (!lib.Plotly && performance.now() - lib.asked > ASK_AGAIN_MS) {
    lib.asked = performance.now();
    model.send({ t: "plotly" });
  }
  return lib.ready;
}

function loadPlotly(buffer) {
  const lib = library();
  if (lib.Plotly) return;
  // plotly.min.js is a UMD bundle: run it as CommonJS so that no page-wide
  // AMD loader or global name is involved.
  const module = { exports: {} };
  const run = new Function("module", "exports", "define", new TextDecoder().decode(buffer));
  run(module, module.exports, undefined);
  lib.Plotly = module.exports;
  lib.resolve(lib.Plotly);
}

function numbers(ref, buffers) {
  if (!Array.isArray(ref)) {
    const view = buffers[ref];
    // Copied: a buffer's offset in its message need not be 8-byte aligned.
    return new Float64Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
  }
  return ref;
}

// -- the model's copy of every part, shared by all views of one model ---------

function applyFrame(store, frame, buffers) {
  const index = frame.part;
  let part = store.parts[index];
  if (frame.base === null || frame.base === undefined) {
    part = store.parts[index] = { kind: frame.kind, rev: -1, data: [] };
  } else if (!part || part.rev !== frame.base) {
    if (!store.asked.has(index)) {
      store.asked.add(index);
      store.model.send({ t: "sync", part: index });
    }
    return;
  }
  store.asked.delete(index);
  part.rev = frame.rev;
  for (const key of ["traces", "config", "bar", "html", "controls"]) {
    if (frame[key] !== undefined) part[key] = frame[key];
  }
  if (frame.layout !== undefined) {
    // A keyframe's layout is whole; a frame's holds only the entries that changed.
    part.layout = frame.base === null ? frame.layout : { ...part.layout, ...frame.layout };
  }
  for (const key of frame.layout_drop ?? []) delete part.layout[key];
  if (frame.count !== undefined) part.data.length = frame.count;
  for (const [i, x, y] of frame.data ?? []) {
    part.data[i] = { x: numbers(x, buffers), y: numbers(y, buffers) };
  }
  for (const view of store.views) view.changed(index);
}

const stores = new WeakMap();

function storeOf(model) {
  let store = stores.get(model);
  if (store) return store;
  store = { model, parts: [], views: new Set(), asked: new Set() };
  stores.set(model, store);
  for (const { frame, buffers } of model.get("parts") ?? []) applyFrame(store, frame, buffers);
  model.on("msg:custom", (content, buffers) => {
    if (content?.t === "frame") applyFrame(store, content, buffers ?? []);
    else if (content?.t === "plotly") loadPlotly(buffers[0]);
  });
  return store;
}

// -- views ---------------------------------------------------------------------

let viewCount = 0;

function element(tag, style, text) {
  const node = document.createElement(tag);
  if (style) node.style.cssText = style;
  if (text !== undefined) node.textContent = text;
  return node;
}

const BUTTON =
  "font:12px var(--jp-ui-font-family,system-ui,sans-serif);padding:1px 10px;cursor:pointer;" +
  "border:1px solid var(--jp-border-color1,#bbb);border-radius:3px;" +
  "background:var(--jp-layout-color2,#f3f3f3);color:var(--jp-ui-font-color1,#222)";
const MUTED = "color:var(--jp-ui-font-color2,#888);font:12px var(--jp-ui-font-family,system-ui,sans-serif)";

class PartView {
  constructor(surface, index, el) {
    this.surface = surface;
    this.index = index;
    this.el = el;
    this.seen = true;
    this.stale = false;
  }
  get part() {
    return this.surface.store.parts[this.index];
  }
  visible() {
    return this.seen && document.visibilityState !== "hidden";
  }
  send(event) {
    this.surface.store.model.send({ t: "event", part: this.index, ...event });
  }
  changed() {
    if (!this.visible()) {
      this.stale = true;
      return;
    }
    this.stale = false;
    this.draw();
  }
  draw() {}
  remove() {}
}

class HtmlView extends PartView {
  draw() {
    const html = this.part?.html ?? "";
    if (this.shown !== html) this.el.innerHTML = this.shown = html;
  }
}

class PlotView extends PartView {
  constructor(surface, index, el) {
    super(surface, index, el);
    this.gd = element("div", "width:100%");
    this.bar = element("div", "display:flex;gap:10px;align-items:center;min-height:22px");
    this.button = element("button", BUTTON, "pause");
    this.button.className = "nnb-mode";
    this.button.addEventListener("click", () => this.send({ button: "mode" }));
    this.note = element("span", MUTED);
    this.note.className = "nnb-note";
    this.bar.append(this.button, this.note);
    // Holds the plot's place until it is first drawn (out of sight, it is not).
    const height = surface.store.parts[index]?.layout?.height ?? 450;
    this.gd.append(element("div", `${MUTED};padding:8px;height:${height}px`, "loading plotly.js…"));
    el.append(this.gd, this.bar);
    this.listening = false;
    // Follow the output's width (plotly.js's own "responsive" mode also takes the
    // container's height, which an output area takes from the plot: the two chase
    // each other and the plot collapses on every frame).
    this.width = 0;
    this.resizer = new ResizeObserver(() => {
      const width = this.gd.clientWidth;
      if (!width || width === this.width) return;
      this.width = width;
      if (this.listening && this.visible()) library().Plotly?.Plots.resize(this.gd);
    });
    this.resizer.observe(this.gd);
    needPlotly(surface.store.model).then(() => this.changed());
  }
  draw() {
    const part = this.part;
    const Plotly = library().Plotly;
    if (!part) return;
    const bar = part.bar ?? {};
    this.button.textContent = bar.button ?? "pause";
    this.button.title = bar.tooltip ?? "";
    this.note.textContent = bar.note ?? "";
    this.note.style.color = bar.error ? "#b00020" : "";
    if (!Plotly || !part.layout) return;
    if (!this.listening) this.gd.replaceChildren();
    const data = (part.traces ?? []).map((style, i) => ({
      ...style,
      x: part.data[i]?.x ?? [],
      y: part.data[i]?.y ?? [],
    }));
    // A copy: plotly.js writes a user's zoom into the layout it is given, and the
    // kernel's copy must stay the kernel's (its next range or autorange wins).
    const layout = { ...structuredClone(part.layout), datarevision: part.rev };
    Plotly.react(this.gd, data, layout, part.config ?? {});
    if (!this.listening) {
      this.listening = true;
      this.gd.on("plotly_relayout", (event) => this.relayout(event));
    }
  }
  relayout(event) {
    if (event["xaxis.autorange"] === true) {
      this.send({ relayout: { autorange: true } });
      return;
    }
    const range = event["xaxis.range"] ?? [event["xaxis.range[0]"], event["xaxis.range[1]"]];
    if (range[0] !== undefined && range[1] !== undefined) {
      this.send({ relayout: { range } });
    }
  }
  remove() {
    this.resizer.disconnect();
    library().Plotly?.purge(this.gd);
  }
}

class ControlsView extends PartView {
  constructor(surface, index, el) {
    super(surface, index, el);
    this.rows = new Map();
    this.body = element("div", "display:flex;flex-direction:column;gap:3px;padding:4px 0");
    this.hint = element("div", MUTED);
    this.list = element("div", "display:flex;flex-direction:column;gap:2px");
    this.apply = element("button", BUTTON, "Apply");
    this.apply.className = "nnb-apply";
    this.apply.addEventListener("click", () => this.send({ action: "apply", form: this.form() }));
    this.message = element("span", MUTED);
    this.message.className = "nnb-message";
    const footer = element("div", "display:flex;gap:10px;align-items:center");
    footer.append(this.apply, this.message);
    this.body.append(this.hint, this.list, footer);
    this.details = null;
    el.append(this.body);
  }
  form() {
    const checked = {};
    const filters = {};
    for (const [name, row] of this.rows) {
      checked[name] = row.check.checked;
      filters[name] = row.field.value;
    }
    return { checked, filters };
  }
  row(name, live) {
    let row = this.rows.get(name);
    if (row) return row;
    const line = element("div", "display:flex;gap:8px;align-items:center");
    const label = element("label", "min-width:13em;display:flex;gap:4px;align-items:center");
    const check = element("input");
    check.type = "checkbox";
    check.dataset.channel = name;
    label.append(check, element("span", "font:12px var(--jp-code-font-family,monospace)", name));
    const field = element("input", "width:18em;font:12px var(--jp-code-font-family,monospace)");
    field.type = "text";
    field.placeholder = "key=v1,v2; key2=v";
    field.dataset.channel = name;
    const error = element("span", "color:#b02a37;font-size:12px");
    line.append(label, field, error);
    this.list.append(line);
    check.addEventListener("change", () => {
      if (this.part?.controls?.live) this.send({ action: "check", form: this.form() });
    });
    const submit = () => {
      if (this.part?.controls?.live) this.send({ action: "filter", form: this.form() });
    };
    field.addEventListener("change", submit); // focus left the field
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter") submit(); // Chromium fires no change on Enter
    });
    row = { check, field, error };
    this.rows.set(name, row);
    return row;
  }
  draw() {
    const state = this.part?.controls;
    if (!state) return;
    if (state.title && !this.details) {
      this.details = element("details");
      this.details.append(element("summary", "cursor:pointer", state.title));
      this.el.replaceChildren(this.details);
      this.details.append(this.body);
    }
    this.hint.textContent = state.hint ?? "";
    for (const name of state.channels ?? []) {
      const row = this.row(name, state.live);
      row.check.checked = Boolean(state.checked?.[name]);
      // Never overwrite what someone is typing.
      if (document.activeElement !== row.field) row.field.value = state.filters?.[name] ?? "";
      row.error.textContent = state.errors?.[name] ?? "";
    }
    this.apply.disabled = Boolean(state.busy);
    this.message.textContent = state.message ?? "";
    this.message.style.color = state.failed ? "#b02a37" : "";
  }
}

const VIEWS = { html: HtmlView, plot: PlotView, controls: ControlsView };

class SurfaceView {
  constructor(model, el) {
    this.store = storeOf(model);
    this.id = `${Date.now().toString(36)}-${(viewCount += 1)}`;
    this.parts = [];
    this.reported = new Map();
    el.classList.add("nnb-surface");
    el.style.cssText = "display:flex;flex-direction:column;gap:6px;width:100%";
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const view = this.parts.find((v) => v.el === entry.target);
        if (view) view.seen = entry.isIntersecting;
      }
      this.sightChanged();
    });
    this.onVisibility = () => this.sightChanged();
    document.addEventListener("visibilitychange", this.onVisibility);
    this.build(el);
    this.store.views.add(this);
  }
  build(el) {
    this.store.parts.forEach((part, index) => {
      const holder = element("div", "width:100%;min-width:0");
      holder.className = `nnb-part nnb-${part.kind}`;
      el.append(holder);
      const View = VIEWS[part.kind] ?? HtmlView;
      const view = new View(this, index, holder);
      this.parts.push(view);
      this.observer.observe(holder);
      view.changed();
    });
  }
  changed(index) {
    this.parts[index]?.changed();
  }
  report(view, sight) {
    if (this.reported.get(view.index) === sight) return;
    this.reported.set(view.index, sight);
    try {
      this.store.model.send({ t: "sight", view: this.id, part: view.index, sight });
    } catch (error) {
      this.reported.delete(view.index); // the kernel connection is down: report again later
    }
  }
  sightChanged() {
    for (const view of this.parts) {
      if (view.stale && view.visible()) view.changed();
      this.report(view, view.visible());
    }
  }
  remove() {
    this.observer.disconnect();
    document.removeEventListener("visibilitychange", this.onVisibility);
    this.store.views.delete(this);
    for (const view of this.parts) {
      view.remove();
      this.report(view, null);
    }
  }
}

export default {
  initialize({ model }) {
    storeOf(model);
  },
  render({ model, el }) {
    const view = new SurfaceView(model, el);
    return () => view.remove();
  },
};
