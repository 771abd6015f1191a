import marimo

__generated_with = "0.25.2"
app = marimo.App()


@app.cell
def _():
    import marimo as mo

    import nexus_nb as nnb

    return mo, nnb


@app.cell
def _(mo):
    mo.md("""
    # nexus_nb in marimo

    The views are anywidgets, so marimo shows them as they are: each keeps
    updating with no cell running. Run it with `marimo run notebooks/06-marimo.py`
    (an app) or `marimo edit notebooks/06-marimo.py`.
    """)
    return


@app.cell
def _(nnb):
    server = nnb.serve(rate=1000)  # a demo server in this kernel: 1000 simulated events/s
    stream = nnb.connect(server.url, api_key=server.api_key)
    stream.subscribe(nnb.CHANNELS)  # the seven channels of the Nexus reference server
    stream  # noqa: B018 (a marimo cell shows its last expression)
    return (stream,)


@app.cell
def _(mo):
    mo.md("""
    Latency of each AI request by model, over the last minute. While it follows
    the newest data a line keeps at most 200 points (a min/max envelope); drag a
    box to zoom and it shows every request in the box; double-click to follow.
    """)
    return


@app.cell
def _(nnb, stream):
    nnb.LivePlot(
        stream["ai.requests"],
        y="latency_ms",
        color="model",
        window="1min",
        mode="markers",
        max_points=200,
    )
    return


@app.cell
def _(nnb, stream):
    nnb.LiveTable(stream["system.alerts"], rows=8)
    return


@app.cell
def _(nnb, stream):
    nnb.StatusBar(stream)
    return


@app.cell
def _(mo):
    mo.md("""
    The whole stream at once. Untick a channel under *Channels* to unsubscribe
    from it (the status bars show its rate fall to 0), tick it to subscribe again.
    """)
    return


@app.cell
def _(nnb, stream):
    nnb.Dashboard(stream, window="1min")
    return


if __name__ == "__main__":
    app.run()
