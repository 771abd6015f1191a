// The page code of nexus_nb's plotly figures: plotly's own FigureWidget code,
// evaluated once per page however many figures it shows, and bound at once.
//
// anywidget imports a widget's code afresh for every model (a new blob URL per
// model) and drops every message to a model whose code is not bound within 2 s:
// plotly's 5 MB module, evaluated once per figure on a busy page (Voila, Run
// All), missed that, and the figure stayed frozen at its saved state. Here the
// module is imported once (cached on the page, keyed by plotly's version) and
// initialize returns before it has loaded; the view waits for it.
//
// The views also stop reporting their whole trace and layout state back to
// the kernel after every update (plotly's "deltas": a merge and diff of the
// full figure, two messages up and one back per frame). They still report
// after their first render and after traces are added or deleted, which is
// how the kernel learns that a page missed traces.
//
// And a view out of sight (scrolled away, in a hidden tab or a collapsed
// output) skips plotly's redraw: its page model still takes every update, and
// the view draws the newest traces and axes in one update when it is seen again.
// Each view also tells the kernel when it goes out of sight and back
// ({nnb_sight, view}), so the kernel stops sending frames nobody can see.

const CACHE = "__nexus_nb_plotly__";
const UPDATES = ["do_restyle", "do_relayout", "do_update"];
const AXIS = /^[xy]axis[0-9]*$/;

function visible(view) {
  return view._nnbSeen !== false && document.visibilityState !== "hidden";
}

// The model's traces and axis ranges as one update, applied by plotly's own do_update.
function catchUp(view, update) {
  view._nnbStale = false;
  const traces = view.model.get("_widget_data") || [];
  const layout = view.model.get("_widget_layout") || {};
  const axes = {};
  for (const [name, axis] of Object.entries(layout)) {
    if (!AXIS.test(name) || !axis) continue;
    if (axis.range !== undefined) axes[`${name}.range`] = axis.range;
    if (axis.autorange !== undefined) axes[`${name}.autorange`] = axis.autorange;
  }
  const message = {
    style_data: { x: traces.map((t) => t.x), y: traces.map((t) => t.y) },
    layout_data: axes,
    style_traces: null,
  };
  const model = Object.create(view.model, {
    get: { value: (key) => (key === "_py2js_update" ? message : view.model.get(key)) },
  });
  update.call(Object.create(view, { model: { value: model }, _nnbQuiet: { value: true } }));
}

let views = 0;

// A custom message to the kernel, through anywidget's model under plotly's own.
function send(view, content) {
  (view.model.model ?? view.model).send(content);
}

// Tell the kernel whether this view is in sight (null: removed), when that changed.
function report(view, sight) {
  if (view._nnbReported === sight) return;
  view._nnbReported = sight;
  try {
    send(view, { nnb_sight: sight, view: view._nnbId });
  } catch (error) {
    view._nnbReported = undefined; // the kernel connection is down: report again later
  }
}

function watch(view, update) {
  view._nnbSeen = true;
  view._nnbId = `${Date.now().toString(36)}-${(views += 1)}`;
  const seen = () => {
    if (view._nnbStale && visible(view)) catchUp(view, update);
    report(view, visible(view));
  };
  const observer = new IntersectionObserver((entries) => {
    view._nnbSeen = entries[entries.length - 1].isIntersecting;
    seen();
  });
  observer.observe(view.el);
  document.addEventListener("visibilitychange", seen);
  const remove = view.remove;
  view.remove = function (...args) {
    observer.disconnect();
    document.removeEventListener("visibilitychange", seen);
    report(this, null); // removed: its sight no longer counts
    return remove.apply(this, args);
  };
}

function patch(view) {
  const sendTraceDeltas = view._sendTraceDeltas;
  const sendLayoutDelta = view._sendLayoutDelta;
  const update = view.do_update;
  const performRender = view.perform_render;
  view.perform_render = function (...args) {
    watch(this, update);
    return performRender.apply(this, args);
  };
  for (const name of UPDATES) {
    const apply = view[name];
    view[name] = function (...args) {
      if (!visible(this)) {
        this._nnbStale = true;
        return;
      }
      this._nnbQuiet = true;
      try {
        return apply.apply(this, args);
      } finally {
        this._nnbQuiet = false;
      }
    };
  }
  view._sendTraceDeltas = function (...args) {
    if (!this._nnbQuiet) return sendTraceDeltas.apply(this, args);
  };
  view._sendLayoutDelta = function (...args) {
    if (!this._nnbQuiet) return sendLayoutDelta.apply(this, args);
  };
}

function plotlyModule(model) {
  const cache = (globalThis[CACHE] ??= new Map());
  const version = model.get("_nnb_plotly_version");
  if (!cache.has(version)) {
    const code = new Blob([model.get("_nnb_plotly_bundle")], { type: "text/javascript" });
    const url = URL.createObjectURL(code);
    const loading = import(/* webpackIgnore: true */ /* @vite-ignore */ url).then(
      (module) => {
        URL.revokeObjectURL(url);
        patch(module.FigureView.prototype);
        return module;
      },
      (error) => {
        URL.revokeObjectURL(url);
        cache.delete(version);
        throw error;
      },
    );
    cache.set(version, loading);
  }
  return cache.get(version);
}

export default () => {
  let ready;
  return {
    initialize({ model }) {
      ready = plotlyModule(model).then((module) => {
        const widget = module.default();
        widget.initialize({ model });
        return widget;
      });
    },
    async render(view) {
      const widget = await ready;
      return widget.render(view);
    },
  };
};
