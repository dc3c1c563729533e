import Foundation
import KallimaData

/// A run folder's `index.html`: one static page that opens from disk with no server and
/// makes no network request. The data (metrics, evaluations, the list of grids, the
/// configuration) is inlined as JSON and drawn by inline JavaScript into SVG; the sample
/// grids and the interpolation strip are referenced by relative path.
///
/// When the page has drawn, `#report-status` gets `data-ok="1"` and a line saying what it
/// drew; a script error lands in `#report-errors` (the browser test reads both). Each curve
/// is an SVG path with `data-series` (its field) and `data-points` (its finite points).
public enum RunReport {
  public static let fileName = "index.html"

  /// What the page shows besides the folder's files.
  public struct Context {
    /// The run's options as (name, value) rows.
    public var configuration: [(String, String)]
    /// The method in one line (architecture, loss, optimisers).
    public var recipe: String

    public init(configuration: [(String, String)], recipe: String) {
      self.configuration = configuration
      self.recipe = recipe
    }
  }

  /// Writes `index.html` into the run folder atomically.
  public static func write(folder: RunFolder, context: Context, now: Date = Date()) throws {
    let path = URL(fileURLWithPath: folder.path).appendingPathComponent(fileName).path
    try AtomicFile.write(Data(html(folder: folder, context: context, now: now).utf8), to: path)
  }

  /// The page for `folder`.
  public static func html(folder: RunFolder, context: Context, now: Date = Date()) throws -> String {
    let title = URL(fileURLWithPath: folder.path).standardizedFileURL.lastPathComponent
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    // "</script>" cannot occur: JSONEncoder writes "/" as "\/"; "<" is escaped as well so no
    // "<!--" can open a comment inside the script element.
    let json = String(decoding: try encoder.encode(data(folder: folder, context: context, title: title, now: now)), as: UTF8.self)
      .replacingOccurrences(of: "<", with: "\\u003c")
    return """
      <!DOCTYPE html>
      <html lang="en">
      <head>
      <meta charset="utf-8">
      <meta name="viewport" content="width=device-width, initial-scale=1">
      <title>\(escape(title)) · Kallima run</title>
      <style>\(style)</style>
      </head>
      <body>
      <header id="head"></header>
      <div id="report-errors" hidden></div>
      <main>
      <section id="curves"><h2>Training</h2><div class="charts" id="train-charts"></div></section>
      <section id="evaluation" hidden><h2>Evaluation</h2><div class="charts" id="eval-charts"></div></section>
      <section id="samples"><h2>Samples</h2>
      <div class="pictures"><div id="grid-view"></div><div id="interpolation-view" hidden></div></div></section>
      <section id="config"><h2>Configuration</h2><div id="config-view"></div></section>
      </main>
      <footer><span id="report-status" data-ok="0">drawing…</span></footer>
      <script type="application/json" id="report-data">\(json)</script>
      <script>\(script)</script>
      </body>
      </html>

      """
  }

  struct Series: Encodable {
    var steps: [Int]
    /// Per field, one value per step: a number, "nan"/"inf"/"-inf", or null (not logged).
    var fields: [String: [Value?]]
    var best: [Bool]?
  }

  /// A logged value: finite numbers as JSON numbers, the others as the strings the log uses.
  enum Value: Encodable {
    case number(Double)

    func encode(to encoder: Encoder) throws {
      var c = encoder.singleValueContainer()
      guard case .number(let v) = self else { return }
      if v.isFinite { try c.encode(v) } else { try c.encode(v.isNaN ? "nan" : v > 0 ? "inf" : "-inf") }
    }
  }

  struct Payload: Encodable {
    var title: String
    var generated: Double
    var status: RunStatus?
    var live: String?
    var logs: Series
    var evaluations: [String: Series]
    var grids: [Grid]
    var interpolation: String?
    var configuration: [[String]]
    var recipe: String
    var problems: [String]
    var bestEvaluation: String?
  }

  struct Grid: Encodable {
    var step: Int
    var src: String
  }

  static func data(folder: RunFolder, context: Context, title: String, now: Date) -> Payload {
    func series(_ records: [RunFolder.Record], best: Bool) -> Series {
      let names = Set(records.flatMap(\.values.keys)).sorted()
      let fields = Dictionary(uniqueKeysWithValues: names.map { name in
        (name, records.map { r in r.values[name].map(Value.number) })
      })
      return Series(steps: records.map(\.step), fields: fields, best: best ? records.map { $0.best ?? false } : nil)
    }
    let byMetric = Dictionary(grouping: folder.evaluations) { $0.metric ?? "" }
    let latestStep = folder.grids.last?.step ?? 0
    return Payload(
      title: title, generated: now.timeIntervalSince1970, status: folder.status,
      live: folder.status?.liveState(now: now).rawValue,
      logs: series(folder.logs, best: false),
      evaluations: byMetric.mapValues { series($0, best: true) },
      grids: folder.grids.map { Grid(step: $0.step, src: $0.file) },
      // The step in the query makes a reloaded page fetch the new strip, not a cached one.
      interpolation: folder.hasInterpolation ? "\(RunFolder.interpolationFile)?step=\(latestStep)" : nil,
      configuration: context.configuration.map { [$0.0, $0.1] }, recipe: context.recipe, problems: folder.problems,
      bestEvaluation: folder.bestEvaluation.map { b in
        String(format: "%@ %.4g at step %d", b.field, b.record.values[b.field] ?? .nan, b.record.step)
      })
  }

  /// (name, value) rows of a value's stored properties, nested structs flattened as
  /// "outer.inner"; nil optionals show as "–".
  public static func rows(of value: Any, prefix: String = "") -> [(String, String)] {
    Mirror(reflecting: value).children.flatMap { child -> [(String, String)] in
      guard let label = child.label else { return [] }
      let name = prefix + label
      let mirror = Mirror(reflecting: child.value)
      if mirror.displayStyle == .optional {
        return [(name, mirror.children.first.map { "\($0.value)" } ?? "–")]
      }
      if mirror.displayStyle == .struct && !mirror.children.isEmpty {
        return rows(of: child.value, prefix: name + ".")
      }
      return [(name, "\(child.value)")]
    }
  }

  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  static let style = #"""
    :root { --fg: #1d2330; --muted: #6b7385; --line: #e3e6ec; --bg: #f6f7f9; --card: #fff; --accent: #3563e9; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
      color: var(--fg); background: var(--bg); }
    header { padding: 18px 28px 14px; background: var(--card); border-bottom: 1px solid var(--line);
      display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 18px; }
    header h1 { font-size: 20px; margin: 0; font-weight: 650; }
    header .facts { color: var(--muted); }
    header .facts b { color: var(--fg); font-weight: 600; }
    .badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12px; font-weight: 650;
      text-transform: uppercase; letter-spacing: .04em; color: #fff; background: #8a93a6; }
    .badge.running { background: #2f8f4e; } .badge.finished { background: #3563e9; }
    .badge.diverged, .badge.failed { background: #c8372d; } .badge.stopped { background: #b7791f; }
    main { padding: 8px 28px 28px; max-width: 1280px; }
    h2 { font-size: 15px; margin: 22px 0 10px; font-weight: 650; }
    .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 14px; }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px 6px; }
    .card h3 { font-size: 13px; margin: 0 0 2px; font-weight: 600; }
    .legend { font-size: 12px; color: var(--muted); min-height: 18px; }
    .legend span { margin-right: 12px; white-space: nowrap; }
    .legend i { display: inline-block; width: 10px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 4px; }
    svg text { font-size: 10.5px; fill: var(--muted); }
    svg .grid line { stroke: var(--line); }
    svg path.curve { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
    svg .hover line { stroke: #9aa3b5; stroke-dasharray: 3 3; }
    .tip { font-size: 12px; color: var(--muted); min-height: 18px; }
    #grid-view, #interpolation-view, #config-view { background: var(--card); border: 1px solid var(--line);
      border-radius: 8px; padding: 14px; }
    .pictures { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
    .pictures h3 { font-size: 13px; margin: 0 0 10px; font-weight: 600; line-height: 26px; }
    .slider-row { display: flex; align-items: center; gap: 12px; margin-bottom: 10px; }
    .slider-row input { flex: 1; }
    .slider-row button { font: inherit; padding: 2px 12px; border: 1px solid var(--line); border-radius: 6px;
      background: var(--bg); cursor: pointer; }
    img.pixels { image-rendering: pixelated; background: #000; max-width: 100%; }
    .recipe { font-weight: 600; margin-bottom: 10px; }
    .options { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); column-gap: 24px; font-size: 13px; }
    .options div { display: flex; justify-content: space-between; gap: 12px; padding: 3px 0; border-bottom: 1px solid var(--line); }
    .options span { color: var(--muted); font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
    .options b { font-weight: 500; text-align: right; overflow-wrap: anywhere; }
    #report-errors { margin: 12px 28px 0; padding: 10px 12px; border-radius: 8px; background: #fdecea; color: #8c1d13;
      white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 12px; }
    .problems { color: #8c4a00; font-size: 13px; }
    .empty { color: var(--muted); }
    footer { padding: 0 28px 24px; color: var(--muted); font-size: 12px; }
    """#

  static let script = #"""
    "use strict";
    (function () {
      var errors = document.getElementById("report-errors");
      function fail(text) { errors.hidden = false; errors.textContent += text + "\n"; }
      window.onerror = function (message, source, line, column) { fail("error: " + message + " (line " + line + ":" + column + ")"); };
      var SVG = "http://www.w3.org/2000/svg";
      var data = JSON.parse(document.getElementById("report-data").textContent);
      var palette = ["#3563e9", "#e8590c", "#2f9e44", "#ae3ec9", "#0c8599", "#c92a2a", "#5c7cfa", "#f08c00"];

      function el(tag, attrs, parent, text) {
        var node = document.createElement(tag);
        for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
        if (text !== undefined) node.textContent = text;
        if (parent) parent.appendChild(node);
        return node;
      }
      function svg(tag, attrs, parent) {
        var node = document.createElementNS(SVG, tag);
        for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
        if (parent) parent.appendChild(node);
        return node;
      }
      function finite(v) { return typeof v === "number"; }
      function fmt(v) {
        if (typeof v === "string") return v;
        if (v === null || v === undefined) return "–";
        var a = Math.abs(v);
        if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
        return String(Math.round(v * 1e4) / 1e4);
      }
      // A tick label: short (1.5e+26, 0.25, 1200).
      function tick(v) {
        var a = Math.abs(v);
        return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
      }
      // Round tick positions covering [lo, hi].
      function ticks(lo, hi, n) {
        var span = hi - lo, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), step = mag;
        [1, 2, 2.5, 5, 10].some(function (m) { step = m * mag; return span / step <= n; });
        var out = [];
        for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
        return out;
      }

      // One chart: series = [{name, values, color}] over xs; NaN/inf (null) break the line.
      function chart(parent, title, xs, series, marks) {
        var card = el("div", { "class": "card", "data-chart": title }, parent);
        el("h3", {}, card, title);
        var legend = el("div", { "class": "legend" }, card);
        var W = 440, H = 222, L = 56, R = 12, T = 8, B = 36;
        var root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img" }, card);
        var tip = el("div", { "class": "tip" }, card, "\u00a0");
        var ys = [];
        var broken = {};
        series.forEach(function (s) { s.values.forEach(function (v, i) { if (finite(v)) ys.push(v); else if (typeof v === "string") broken[i] = v; }); });
        if (!xs.length) { el("div", { "class": "empty" }, card, "nothing logged yet"); }
        var x0 = xs.length ? xs[0] : 0, x1 = xs.length ? xs[xs.length - 1] : 1;
        if (x1 === x0) { x0 -= 1; x1 += 1; }
        var y0 = ys.length ? Math.min.apply(null, ys) : 0, y1 = ys.length ? Math.max.apply(null, ys) : 1;
        if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
        var pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad;
        function X(x) { return L + (x - x0) / (x1 - x0) * (W - L - R); }
        function Y(y) { return T + (y1 - y) / (y1 - y0) * (H - T - B); }
        var grid = svg("g", { "class": "grid" }, root);
        ticks(y0, y1, 5).forEach(function (t) {
          svg("line", { x1: L, x2: W - R, y1: Y(t), y2: Y(t) }, grid);
          svg("text", { x: L - 6, y: Y(t) + 3.5, "text-anchor": "end" }, root).textContent = tick(t);
        });
        ticks(x0, x1, 6).filter(function (t) { return t === Math.round(t); }).forEach(function (t) {
          svg("line", { x1: X(t), x2: X(t), y1: T, y2: H - B }, grid);
          svg("text", { x: X(t), y: H - B + 15, "text-anchor": "middle" }, root).textContent = t;
        });
        svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, root).textContent = "step";
        series.forEach(function (s) {
          var d = "", points = 0, pen = false;
          s.values.forEach(function (v, i) {
            if (!finite(v)) { pen = false; return; }
            d += (pen ? "L" : "M") + X(xs[i]).toFixed(1) + " " + Y(v).toFixed(1);
            pen = true; points += 1;
          });
          svg("path", { "class": "curve", d: d, stroke: s.color, "data-series": s.name, "data-points": points }, root);
          // A lone point between gaps draws nothing as a path: give every point a dot when few.
          if (points <= 40) s.values.forEach(function (v, i) {
            if (finite(v)) svg("circle", { cx: X(xs[i]), cy: Y(v), r: 2.2, fill: s.color }, root);
          });
          var key = el("span", {}, legend);
          el("i", { style: "background:" + s.color }, key);
          key.appendChild(document.createTextNode(s.name));
        });
        // Steps with a non-finite value: a red rule and the value.
        Object.keys(broken).forEach(function (i) {
          svg("line", { x1: X(xs[i]), x2: X(xs[i]), y1: T, y2: H - B, stroke: "#c8372d", "stroke-width": 1.5, "class": "nonfinite" }, root);
          svg("text", { x: X(xs[i]) - 4, y: T + 10, "text-anchor": "end", style: "fill:#c8372d" }, root).textContent = broken[i];
        });
        if (marks && marks.length) {
          var key = el("span", {}, legend);
          el("i", { style: "background:none;border:2px solid #2f9e44;width:8px;height:8px;border-radius:50%" }, key);
          key.appendChild(document.createTextNode("new best (checkpoints/best.safetensors)"));
        }
        (marks || []).forEach(function (m) {
          svg("circle", { cx: X(m.x), cy: Y(m.y), r: 4.5, fill: "none", stroke: "#2f9e44", "stroke-width": 2, "class": "best" }, root);
        });
        var hover = svg("g", { "class": "hover", visibility: "hidden" }, root);
        var rule = svg("line", { y1: T, y2: H - B }, hover);
        root.addEventListener("mousemove", function (event) {
          if (!xs.length) return;
          var box = root.getBoundingClientRect(), x = (event.clientX - box.left) / box.width * W;
          var target = x0 + (x - L) / (W - L - R) * (x1 - x0), best = 0;
          xs.forEach(function (v, i) { if (Math.abs(v - target) < Math.abs(xs[best] - target)) best = i; });
          rule.setAttribute("x1", X(xs[best])); rule.setAttribute("x2", X(xs[best]));
          hover.setAttribute("visibility", "visible");
          tip.textContent = "step " + xs[best] + ":  " + series.map(function (s) { return s.name + " " + fmt(s.values[best]); }).join("   ");
        });
        root.addEventListener("mouseleave", function () { hover.setAttribute("visibility", "hidden"); tip.textContent = "\u00a0"; });
        return card;
      }

      function seriesOf(source, names) {
        return names.filter(function (n) { return source.fields[n]; }).map(function (n, i) {
          return { name: n, values: source.fields[n], color: palette[i % palette.length] };
        });
      }

      // Header: name, status, step, best evaluation, update time.
      var head = document.getElementById("head");
      el("h1", {}, head, data.title);
      var st = data.status, live = data.live || "unknown";
      el("span", { "class": "badge " + live, id: "run-state" }, head, live);
      var facts = el("span", { "class": "facts" }, head);
      function fact(label, value) { facts.appendChild(document.createTextNode(label + " ")); el("b", {}, facts, value); facts.appendChild(document.createTextNode("   ")); }
      var lastStep = data.logs.steps.length ? data.logs.steps[data.logs.steps.length - 1] : 0;
      fact("step", (st ? st.step : lastStep) + (st ? " / " + st.steps : ""));
      var lastOf = function (n) { var v = data.logs.fields[n]; return v ? fmt(v[v.length - 1]) : "–"; };
      fact("loss D", lastOf("loss_d")); fact("loss G", lastOf("loss_g"));
      if (data.bestEvaluation) fact("best", data.bestEvaluation);
      fact("updated", new Date((st ? st.updated : data.generated) * 1000).toLocaleString());
      if (st && st.message) el("div", { "class": "problems", style: "flex-basis:100%" }, head, st.message);
      data.problems.forEach(function (p) { el("div", { "class": "problems", style: "flex-basis:100%" }, head, p); });

      // Training curves.
      var charts = 0, train = document.getElementById("train-charts"), steps = data.logs.steps;
      [["Losses", ["loss_d", "loss_g"]], ["Discriminator outputs", ["d_x", "d_g_z"]],
       ["Gradient norms", ["grad_norm", "r1_grad_norm"]], ["BEGAN", ["k", "M"]], ["Throughput (images/s)", ["images_per_s"]]]
        .forEach(function (c) {
          var s = seriesOf(data.logs, c[1]);
          if (s.length) { chart(train, c[0], steps, s); charts += 1; }
        });

      // Evaluation curves: one chart per field of each metric (the best ones circled).
      var evals = document.getElementById("eval-charts");
      Object.keys(data.evaluations).sort().forEach(function (metric) {
        var e = data.evaluations[metric];
        document.getElementById("evaluation").hidden = false;
        Object.keys(e.fields).sort().filter(function (f) { return f !== "samples" && f !== "classes"; }).forEach(function (f) {
          var marks = [];
          e.steps.forEach(function (x, i) { if (e.best && e.best[i] && finite(e.fields[f][i])) marks.push({ x: x, y: e.fields[f][i] }); });
          chart(evals, metric + ": " + f, e.steps, seriesOf(e, [f]), marks);
          charts += 1;
        });
      });

      // Sample grids over time: a slider with one position per grid.
      var view = document.getElementById("grid-view");
      if (data.grids.length) {
        var row = el("div", { "class": "slider-row", style: "width:560px;max-width:100%" }, view);
        var play = el("button", { type: "button", id: "grid-play" }, row, "▶ play");
        var slider = el("input", { type: "range", id: "grid-slider", min: 0, max: data.grids.length - 1, step: 1, value: data.grids.length - 1 }, row);
        var label = el("span", { id: "grid-label" }, row);
        var image = el("img", { "class": "pixels", id: "grid-image", alt: "sample grid" }, view);
        var show = function () {
          var g = data.grids[Number(slider.value)];
          image.src = g.src;
          label.textContent = "step " + g.step + "  (" + (Number(slider.value) + 1) + " of " + data.grids.length + ")";
        };
        slider.addEventListener("input", show);
        var timer = null;
        play.addEventListener("click", function () {
          if (timer) { clearInterval(timer); timer = null; play.textContent = "▶ play"; return; }
          play.textContent = "❚❚ pause";
          timer = setInterval(function () { slider.value = (Number(slider.value) + 1) % data.grids.length; show(); }, 400);
        });
        image.addEventListener("load", function () { image.style.width = Math.min(image.naturalWidth * 3, 560) + "px"; });
        show();
      } else {
        el("div", { "class": "empty" }, view, "no sample grids yet");
      }

      // The latest interpolation strip, beside the grids at the same scale.
      if (data.interpolation) {
        var strips = document.getElementById("interpolation-view");
        strips.hidden = false;
        el("h3", {}, strips, "Latest interpolation (slerp, one latent pair per row)");
        var strip = el("img", { "class": "pixels", id: "interpolation-image", src: data.interpolation, alt: "interpolation strip" }, strips);
        strip.addEventListener("load", function () { strip.style.width = Math.min(strip.naturalWidth * 3, 560) + "px"; });
      }

      // Configuration: the recipe in a line, then every option.
      var config = document.getElementById("config-view");
      el("div", { "class": "recipe" }, config, data.recipe);
      var table = el("div", { "class": "options" }, config);
      data.configuration.forEach(function (r) {
        var row = el("div", {}, table); el("span", {}, row, r[0]); el("b", {}, row, r[1]);
      });

      var status = document.getElementById("report-status");
      status.textContent = "drew " + charts + " charts, " + data.grids.length + " grids (page written " + new Date(data.generated * 1000).toLocaleString() + ")";
      status.setAttribute("data-ok", "1");
      status.setAttribute("data-charts", charts);
      // Reload while the run is live, to follow it.
      if (live === "running") setTimeout(function () { location.reload(); }, 30000);
    })();
    """#
}
