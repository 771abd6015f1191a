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

const CACHE = "__nexus_nb_plotly__";
const QUIET = ["do_restyle", "do_relayout", "do_update"];

function quiet(view) {
  const sendTraceDeltas = view._sendTraceDeltas;
  const sendLayoutDelta = view._sendLayoutDelta;
  for (const name of QUIET) {
    const apply = view[name];
    view[name] = function (...args) {
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
        quiet(module.FigureView.prototype);
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
