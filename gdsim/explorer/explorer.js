/* gdsim explorer. Every iterate drawn here is one of gdsim's, decoded from the float32 data
   embedded below; the page computes only what it says it computes (contour shading, hover
   values, the -lr*grad arrow and the loss curve from the surface's formula; the stability
   products). No network: no fetch, no external files. Test hook: window.gdsimExplorer. */
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("gdsim-data").textContent);
  const C = DATA.colors;
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ data
  function decodeFloat32(text) {
    const bytes = atob(text);
    const buffer = new ArrayBuffer(bytes.length);
    const view = new Uint8Array(buffer);
    for (let i = 0; i < bytes.length; i++) view[i] = bytes.charCodeAt(i);
    return new Float32Array(buffer); // little-endian, as written by gdsim (every target is LE)
  }
  const SURFACES = DATA.surfaces;
  for (const s of SURFACES) {
    for (const name of Object.keys(s.runs)) s.runs[name].values = decodeFloat32(s.runs[name].data);
  }
  const FAMILIES = [];
  for (const s of SURFACES) if (!FAMILIES.includes(s.family)) FAMILIES.push(s.family);
  const FAMILY_LABEL = { bowl: "quadratic bowl", rosenbrock: "Rosenbrock", double_well: "tilted double well",
                         saddle: "saddle", himmelblau: "Himmelblau" };
  const presetsOf = (family) => SURFACES.filter((s) => s.family === family);
  const kappaOf = (s) => s.family === "bowl" ? Math.round(s.formula.eigenvalues[1] / s.formula.eigenvalues[0]) : null;
  const G = DATA.grid;
  const LEVELS = G.noiseLevels;
  const T = G.steps;

  // ------------------------------------------------------------------ surfaces (formulas)
  // The same formulas as gdsim.surfaces, in float64; used for shading, hover and -lr*grad.
  function formula(f) {
    switch (f.kind) {
      case "quadratic": {
        const [l1, l2] = f.eigenvalues;
        return { value: (x, y) => 0.5 * (l1 * x * x + l2 * y * y), grad: (x, y) => [l1 * x, l2 * y] };
      }
      case "rosenbrock": {
        const a = f.a, b = f.b;
        return { value: (x, y) => { const v = y - x * x, o = a - x; return b * v * v + o * o; },
                 grad: (x, y) => { const v = y - x * x; return [-4 * b * x * v - 2 * (a - x), 2 * b * v]; } };
      }
      case "double_well": {
        const t = f.tilt, c = f.curvature_y;
        return { value: (x, y) => 0.25 * x * x * x * x - 0.5 * x * x + t * x + 0.5 * c * y * y,
                 grad: (x, y) => [x * x * x - x + t, c * y] };
      }
      case "saddle":
        return { value: (x, y) => x * x - y * y, grad: (x, y) => [2 * x, -2 * y] };
      case "himmelblau":
        return { value: (x, y) => { const u = x * x + y - 11, v = x + y * y - 7; return u * u + v * v; },
                 grad: (x, y) => { const u = x * x + y - 11, v = x + y * y - 7; return [4 * x * u + 2 * v, 2 * u + 4 * y * v]; } };
    }
    throw new Error("unknown surface " + f.kind);
  }
  for (const s of SURFACES) s.f = formula(s.formula);

  // ------------------------------------------------------------------ state and URL
  const DEFAULTS = { family: FAMILIES[0], kappa: 1, opt: "GD", lr: null, beta1: 1, beta2: G.beta2.length - 1, noise: 0,
                     seed: 0, start: 0, steps: T, step: T, mode: "path", hide: [] };
  const state = Object.assign({}, DEFAULTS, { hide: [] });
  // A fragment names only what differs from the defaults; missing keys mean the default.
  function resetState() {
    Object.assign(state, DEFAULTS, { hide: [] });
    state.lr = defaultLr();
  }
  // The middle stop for the adaptive rules; about a quarter of the critical rate for GD and momentum.
  function defaultLr() {
    const stops = lrStops();
    return DATA.adaptive.includes(state.opt) ? Math.floor(stops.length / 2) : nearestIndex(stops, 0.25 * preset().criticalLr, true);
  }
  function preset() {
    const list = presetsOf(state.family);
    return list[Math.min(state.kappa, list.length - 1)];
  }
  const uses = (name) => DATA.uses[state.opt].includes(name);
  const lrStops = () => preset().learningRates[state.opt];
  const noiseScale = (i) => LEVELS[i] * preset().noiseUnit;
  function nearestIndex(stops, value, log) {
    let best = 0, bestD = Infinity;
    stops.forEach((v, i) => {
      const d = log ? Math.abs(Math.log(v) - Math.log(value)) : Math.abs(v - value);
      if (d < bestD) { bestD = d; best = i; }
    });
    return best;
  }
  function clampState() {
    const list = presetsOf(state.family);
    state.kappa = Math.max(0, Math.min(state.kappa, list.length - 1));
    state.lr = Math.max(0, Math.min(state.lr, lrStops().length - 1));
    state.beta1 = Math.max(0, Math.min(state.beta1, G.beta1.length - 1));
    state.beta2 = Math.max(0, Math.min(state.beta2, G.beta2.length - 1));
    state.noise = Math.max(0, Math.min(state.noise, LEVELS.length - 1));
    state.seed = Math.max(0, Math.min(state.seed, G.seeds.length - 1));
    state.start = Math.max(0, Math.min(state.start, preset().starts.length - 1));
    state.steps = Math.max(1, Math.min(Math.round(state.steps), T));
    state.step = Math.max(0, Math.min(Math.round(state.step), state.steps));
  }
  // The fragment carries values (lr=0.1), not slider positions: readable and typeable.
  function toFragment() {
    const p = preset();
    const parts = [["surface", state.family]];
    if (state.family === "bowl") parts.push(["kappa", kappaOf(p)]);
    parts.push(["opt", state.opt], ["lr", lrStops()[state.lr]]);
    if (uses("beta1")) parts.push(["beta1", G.beta1[state.beta1]]);
    if (uses("beta2")) parts.push([state.opt === "RMSprop" ? "rho" : "beta2", G.beta2[state.beta2]]);
    parts.push(["noise", noiseScale(state.noise)], ["seed", G.seeds[state.seed]], ["start", state.start + 1],
               ["steps", state.steps], ["step", state.step]);
    if (state.mode !== "path") parts.push(["mode", state.mode]);
    if (state.hide.length) parts.push(["hide", state.hide.join(",")]);
    return parts.map(([k, v]) => k + "=" + encodeURIComponent(String(v)).replace(/%2C/g, ",")).join("&");
  }
  const KEYS = ["surface", "kappa", "opt", "lr", "beta1", "beta2", "rho", "noise", "seed", "start", "steps", "step", "mode", "hide"];
  function applySettings(settings) {
    // Order matters: the surface and optimizer decide what the other values snap to.
    const known = {};
    for (const [k, v] of Object.entries(settings)) {
      if (!KEYS.includes(k)) throw new Error("unknown setting " + k + " (known: " + KEYS.join(", ") + ")");
      known[k] = String(v);
    }
    if (known.surface !== undefined) {
      const fam = FAMILIES.find((f) => f === known.surface) || (SURFACES.find((s) => s.key === known.surface) || {}).family;
      if (!fam) throw new Error("unknown surface " + known.surface + " (known: " + FAMILIES.join(", ") + ")");
      state.family = fam;
      const byKey = SURFACES.find((s) => s.key === known.surface);
      if (byKey && byKey.family === "bowl") state.kappa = presetsOf("bowl").indexOf(byKey);
    }
    if (known.kappa !== undefined && state.family === "bowl") {
      state.kappa = nearestIndex(presetsOf("bowl").map(kappaOf), Number(known.kappa), true);
    }
    if (known.opt !== undefined) {
      const name = DATA.optimizers.find((o) => o.toLowerCase() === known.opt.toLowerCase());
      if (!name) throw new Error("unknown optimizer " + known.opt + " (known: " + DATA.optimizers.join(", ") + ")");
      state.opt = name;
    }
    const num = (k) => { const v = Number(known[k]); if (!isFinite(v)) throw new Error(k + " must be a number, got " + known[k]); return v; };
    if (known.lr !== undefined) state.lr = nearestIndex(lrStops(), num("lr"), true);
    if (known.beta1 !== undefined) state.beta1 = nearestIndex(G.beta1, num("beta1"), false);
    if (known.beta2 !== undefined) state.beta2 = nearestIndex(G.beta2, num("beta2"), false);
    if (known.rho !== undefined) state.beta2 = nearestIndex(G.beta2, num("rho"), false);
    if (known.noise !== undefined) state.noise = nearestIndex(LEVELS.map((l) => l * preset().noiseUnit), num("noise"), false);
    if (known.seed !== undefined) state.seed = nearestIndex(G.seeds, num("seed"), false);
    if (known.start !== undefined) state.start = Math.round(num("start")) - 1;
    if (known.steps !== undefined) { state.steps = num("steps"); state.step = state.steps; }
    if (known.step !== undefined) state.step = num("step");
    if (known.mode !== undefined) state.mode = known.mode === "map" ? "map" : "path";
    if (known.hide !== undefined) state.hide = known.hide.split(",").map((h) => h.trim()).filter(Boolean);
    clampState();
  }
  function readFragment() {
    const settings = {};
    for (const part of location.hash.replace(/^#/, "").split("&")) {
      if (!part) continue;
      const eq = part.indexOf("=");
      const key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      if (KEYS.includes(key)) settings[key] = decodeURIComponent(eq < 0 ? "" : part.slice(eq + 1));
    }
    resetState();
    // key by key, in KEYS order (surface and optimizer first): one bad value spoils only itself
    const errors = [];
    for (const key of KEYS) {
      if (settings[key] === undefined) continue;
      try { applySettings({ [key]: settings[key] }); } catch (err) { errors.push(String(err.message || err)); }
    }
    if (settings.lr === undefined) state.lr = defaultLr();
    urlError = errors.join("; ");
  }
  let lastFragment = "";
  function writeFragment() {
    lastFragment = "#" + toFragment();
    if (location.hash !== lastFragment) history.replaceState(null, "", lastFragment);
  }
  // A bad link still opens (with the defaults for what it got wrong) and says what was wrong.
  let urlError = "";

  // ------------------------------------------------------------------ the current run
  function noiseSetting() {
    if (LEVELS[state.noise] === 0) return 0;
    const positive = LEVELS.filter((l) => l > 0);
    return 1 + positive.indexOf(LEVELS[state.noise]) * G.seeds.length + state.seed;
  }
  function currentRun() {
    const p = preset();
    const r = p.runs[state.opt];
    const [, L, B1, B2, N, K] = r.shape; // (start, lr, beta1, beta2, noise setting, step)
    const b1 = B1 > 1 ? state.beta1 : 0, b2 = B2 > 1 ? state.beta2 : 0;
    const flat = ((((state.start * L + state.lr) * B1 + b1) * B2 + b2) * N + noiseSetting());
    const offset = flat * K * 2;
    return { values: r.values, offset: offset, K: K };
  }
  function iterate(run, k) {
    return [run.values[run.offset + 2 * k], run.values[run.offset + 2 * k + 1]];
  }
  const finite2 = (p) => isFinite(p[0]) && isFinite(p[1]);

  // ------------------------------------------------------------------ geometry
  const contour = $("contour"), lossCanvas = $("loss");
  const M = { left: 78, right: 14, top: 14, bottom: 62 };
  function setupCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.width, h = canvas.height;
    // drawn in w x h units; the layout may show it smaller (narrow projectors), never larger
    canvas.style.width = "100%"; canvas.style.maxWidth = w + "px"; canvas.style.height = "auto";
    canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
    canvas.cssW = w; canvas.cssH = h; canvas.ratio = ratio;
    canvas.getContext("2d").setTransform(ratio, 0, 0, ratio, 0, 0);
  }
  setupCanvas(contour); setupCanvas(lossCanvas);
  const plotW = () => contour.cssW - M.left - M.right, plotH = () => contour.cssH - M.top - M.bottom;
  function toPx(p, x, y) {
    const [lo, hi] = p.box;
    return [M.left + (x - lo[0]) / (hi[0] - lo[0]) * plotW(), M.top + (hi[1] - y) / (hi[1] - lo[1]) * plotH()];
  }
  function fromPx(p, px, py) {
    const [lo, hi] = p.box;
    return [lo[0] + (px - M.left) / plotW() * (hi[0] - lo[0]), hi[1] - (py - M.top) / plotH() * (hi[1] - lo[1])];
  }
  const clampPx = (v) => Math.max(-1e5, Math.min(1e5, v));

  // ------------------------------------------------------------------ contour background (cached)
  const backgrounds = {};
  function background(p) {
    if (backgrounds[p.key]) return backgrounds[p.key];
    const ratio = contour.ratio, w = Math.round(plotW() * ratio), h = Math.round(plotH() * ratio);
    const z = new Float64Array(w * h);
    const [lo, hi] = p.box;
    for (let j = 0; j < h; j++) {
      const y = hi[1] - (j + 0.5) / h * (hi[1] - lo[1]);
      for (let i = 0; i < w; i++) z[j * w + i] = p.f.value(lo[0] + (i + 0.5) / w * (hi[0] - lo[0]), y);
    }
    // Levels as gdsim.plots.loss_contours: geometric above the box minimum (linear for the saddle).
    const sample = new Float64Array(Math.ceil(z.length / 7));
    for (let n = 0; n < sample.length; n++) sample[n] = z[7 * n];
    sample.sort(); // typed-array sort is numeric; every 7th pixel is plenty for a percentile
    const zmin = sample[0], top = sample[Math.floor(0.99 * (sample.length - 1))];
    const nLevels = 14, levels = [];
    const log = p.formula.kind !== "saddle";
    for (let k = 0; k < nLevels; k++) {
      levels.push(log ? zmin + (top - zmin) * 1e-4 * Math.pow(1e4, k / (nLevels - 1)) : zmin + (top - zmin) * k / (nLevels - 1));
    }
    const band = new Uint8Array(w * h);
    for (let n = 0; n < z.length; n++) { let b = 0; while (b < nLevels && z[n] > levels[b]) b++; band[n] = b; }
    const off = document.createElement("canvas"); off.width = w; off.height = h;
    const octx = off.getContext("2d"), img = octx.createImageData(w, h);
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) {
      const n = j * w + i, b = band[n];
      const edge = (i + 1 < w && band[n + 1] !== b) || (j + 1 < h && band[n + w] !== b);
      const shade = edge ? 110 : Math.round(252 - 72 * b / nLevels);
      img.data[4 * n] = img.data[4 * n + 1] = img.data[4 * n + 2] = shade; img.data[4 * n + 3] = 255;
    }
    octx.putImageData(img, 0, 0);
    return (backgrounds[p.key] = off);
  }

  // ------------------------------------------------------------------ drawing helpers
  function axes(ctx, x0, y0, w, h, xticks, yticks, xlabel, ylabel, fmtX, fmtY) {
    ctx.save();
    ctx.strokeStyle = C.black; ctx.lineWidth = 2; ctx.strokeRect(x0, y0, w, h);
    ctx.fillStyle = C.black; ctx.font = "18px system-ui, 'DejaVu Sans', sans-serif";
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const [v, px] of xticks) { ctx.beginPath(); ctx.moveTo(px, y0 + h); ctx.lineTo(px, y0 + h + 6); ctx.stroke(); ctx.fillText(fmtX(v), px, y0 + h + 8); }
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const [v, py] of yticks) { ctx.beginPath(); ctx.moveTo(x0 - 6, py); ctx.lineTo(x0, py); ctx.stroke(); ctx.fillText(fmtY(v), x0 - 9, py); }
    ctx.font = "20px system-ui, 'DejaVu Sans', sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    ctx.fillText(xlabel, x0 + w / 2, y0 + h + 56);
    ctx.translate(18, y0 + h / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "top"; ctx.fillText(ylabel, 0, -12);
    ctx.restore();
  }
  function niceTicks(lo, hi, n) {
    const span = hi - lo, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * span; v += step) out.push(Math.abs(v) < 1e-12 * span ? 0 : v);
    return out;
  }
  // Ticks for a log axis spanning log10 values lo..hi: whole decades when there are a few,
  // else 1-2-5 steps (a run whose loss changes by less than a decade still gets labels).
  function logTicks(lo, hi) {
    const decades = []; for (let e = Math.ceil(lo - 1e-9); e <= hi + 1e-9; e++) decades.push(e);
    const step = Math.max(1, Math.ceil(decades.length / 5));
    if (decades.length >= 2) return decades.filter((e) => e % step === 0).map((e) => Math.pow(10, e));
    const out = [];
    for (let e = Math.floor(lo) - 1; e <= Math.ceil(hi); e++) for (const m of [1, 2, 5]) {
      const v = m * Math.pow(10, e), u = Math.log10(v); if (u >= lo - 1e-9 && u <= hi + 1e-9) out.push(v);
    }
    return out.length >= 2 ? out : [Math.pow(10, lo), Math.pow(10, hi)];
  }
  // 1e-4 rather than 0.0001: short tick labels that a projector shows at 18 px
  const fmtLog = (v) => (v >= 0.01 && v < 1e4) ? fmt(v, 2) : v.toExponential(0).replace("e+", "e");
  const fmt = (v, d) => { const s = Number(v).toPrecision(d === undefined ? 4 : d); return String(Number(s)); };
  function arrow(ctx, x0, y0, x1, y1, color, dash, width) {
    const dx = x1 - x0, dy = y1 - y0, len = Math.hypot(dx, dy);
    if (!(len > 2)) return;
    ctx.save(); ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = width || 4; ctx.setLineDash(dash || []);
    const ux = dx / len, uy = dy / len, head = Math.min(12 + 2 * (width || 4), 0.5 * len);
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1 - ux * head * 0.8, y1 - uy * head * 0.8); ctx.stroke();
    ctx.setLineDash([]); ctx.beginPath(); ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - ux * head - uy * head * 0.45, y1 - uy * head + ux * head * 0.45);
    ctx.lineTo(x1 - ux * head + uy * head * 0.45, y1 - uy * head - ux * head * 0.45); ctx.closePath(); ctx.fill();
    ctx.restore();
  }
  const styleOf = (name) => DATA.optimizerStyle[name] || { color: C.black, linestyle: "-" };
  const DASHES = { "-": [], "--": [14, 8], "-.": [14, 6, 3, 6], ":": [3, 6] };
  function updateColor() {
    const mine = styleOf(state.opt).color;
    return [C.purple, C.blue, C.green].find((c) => c.toLowerCase() !== mine.toLowerCase());
  }

  // ------------------------------------------------------------------ views
  function drawContour() {
    const p = preset(), ctx = contour.getContext("2d");
    ctx.clearRect(0, 0, contour.cssW, contour.cssH);
    ctx.drawImage(background(p), M.left, M.top, plotW(), plotH());
    const [lo, hi] = p.box;
    axes(ctx, M.left, M.top, plotW(), plotH(),
         niceTicks(lo[0], hi[0], 6).map((v) => [v, toPx(p, v, 0)[0]]),
         niceTicks(lo[1], hi[1], 6).map((v) => [v, toPx(p, 0, v)[1]]),
         "parameter x (no units)", "parameter y (no units)", (v) => fmt(v, 3), (v) => fmt(v, 3));
    ctx.save(); ctx.beginPath(); ctx.rect(M.left, M.top, plotW(), plotH()); ctx.clip();
    // minima (stars) and saddle points (crosses), from gdsim
    ctx.font = "bold 26px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    p.references.forEach((r) => { const [px, py] = toPx(p, r[0], r[1]); ctx.fillStyle = C.black; ctx.fillText(p.minValue === null ? "\u00D7" : "\u2605", px, py); });
    const run = currentRun(), st = styleOf(state.opt);
    let last = 0;
    ctx.beginPath();
    for (let k = 0; k <= state.step; k++) {
      const q = iterate(run, k);
      if (!finite2(q)) break;
      const [px, py] = toPx(p, q[0], q[1]);
      if (k === 0) ctx.moveTo(clampPx(px), clampPx(py)); else ctx.lineTo(clampPx(px), clampPx(py));
      last = k;
    }
    ctx.lineJoin = "round"; ctx.lineWidth = 6; ctx.strokeStyle = "#ffffff"; ctx.setLineDash([]); ctx.stroke();
    ctx.lineWidth = 3.5; ctx.strokeStyle = st.color; ctx.setLineDash(DASHES[st.linestyle] || []); ctx.stroke(); ctx.setLineDash([]);
    for (let k = 0; k <= last; k++) {
      const [px, py] = toPx(p, ...iterate(run, k));
      ctx.beginPath(); ctx.arc(px, py, 3, 0, 2 * Math.PI); ctx.fillStyle = st.color; ctx.fill();
    }
    // the precomputed starts, numbered, over the path (a path always begins under its start)
    p.starts.forEach((s, i) => {
      const [px, py] = toPx(p, s[0], s[1]);
      ctx.beginPath(); ctx.arc(px, py, 11, 0, 2 * Math.PI); ctx.fillStyle = "rgba(255,255,255,0.9)"; ctx.fill();
      ctx.lineWidth = i === state.start ? 4 : 2; ctx.strokeStyle = C.black; ctx.stroke();
      ctx.fillStyle = C.black; ctx.font = "bold 15px system-ui, sans-serif"; ctx.fillText(String(i + 1), px, py + 1);
    });
    const here = iterate(run, last), [hx, hy] = toPx(p, here[0], here[1]);
    ctx.beginPath(); ctx.arc(hx, hy, 9, 0, 2 * Math.PI); ctx.fillStyle = st.color; ctx.fill();
    ctx.lineWidth = 2.5; ctx.strokeStyle = "#ffffff"; ctx.stroke();
    const inside = hx >= M.left && hx <= M.left + plotW() && hy >= M.top && hy <= M.top + plotH();
    if (!inside) { // say where the shown iterate went, at the edge it left through
      const ex = Math.max(M.left + 8, Math.min(M.left + plotW() - 8, hx)), ey = Math.max(M.top + 8, Math.min(M.top + plotH() - 8, hy));
      arrow(ctx, ex - 24 * Math.sign(hx - ex), ey - 24 * Math.sign(hy - ey), ex, ey, st.color, [], 4);
      ctx.font = "bold 17px system-ui, sans-serif"; ctx.fillStyle = C.black;
      ctx.textAlign = ex > M.left + plotW() / 2 ? "right" : "left"; ctx.textBaseline = ey > M.top + plotH() / 2 ? "bottom" : "top";
      ctx.fillText("step " + last + " is off the plot", ex + (ctx.textAlign === "right" ? -30 : 30), ey + (ctx.textBaseline === "bottom" ? -6 : 6));
    }
    // the current update: from x_k to x_{k+1} (gdsim's), and -lr*grad f(x_k) (the formula)
    if (state.step < state.steps && finite2(iterate(run, state.step))) {
      const xk = iterate(run, state.step), xn = iterate(run, state.step + 1);
      const [ax, ay] = toPx(p, xk[0], xk[1]);
      const g = p.f.grad(xk[0], xk[1]);
      // GD family: -lr*grad, the step exact GD would take. Adaptive rules: the direction of
      // -grad drawn as long as the actual update, so the two directions can be compared.
      let scale = lrStops()[state.lr];
      if (DATA.adaptive.includes(state.opt)) scale = finite2(xn) ? Math.hypot(xn[0] - xk[0], xn[1] - xk[1]) / (Math.hypot(g[0], g[1]) || 1) : 0;
      const [gx, gy] = toPx(p, xk[0] - scale * g[0], xk[1] - scale * g[1]);
      if (finite2(xn)) {
        const [nx, ny] = toPx(p, xn[0], xn[1]), col = updateColor();
        if (DATA.adaptive.includes(state.opt)) {
          arrow(ctx, ax, ay, clampPx(nx), ay, col, [8, 5]);
          arrow(ctx, ax, ay, ax, clampPx(ny), col, [8, 5]);
        }
        arrow(ctx, ax, ay, clampPx(nx), clampPx(ny), col, [], 6);
      }
      arrow(ctx, ax, ay, clampPx(gx), clampPx(gy), C.orange, [], 3); // on top: exact GD shows both
    }
    ctx.restore();
  }

  function drawMap() {
    const p = preset(), m = p.escapeMap, ctx = contour.getContext("2d");
    ctx.clearRect(0, 0, contour.cssW, contour.cssH);
    const nx = m.lrs.length, ny = m.sigmas.length, cw = plotW() / nx, ch = plotH() / ny;
    const V = DATA.viridis;
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      const v = m.escaped[j][i];
      ctx.fillStyle = V[Math.min(V.length - 1, Math.floor(v * V.length))];
      const x = M.left + i * cw, y = M.top + (ny - 1 - j) * ch;
      ctx.fillRect(x, y, cw + 0.5, ch + 0.5);
      if (m.diverged[j][i] >= 0.5) { // hatched: most runs diverged
        ctx.save(); ctx.beginPath(); ctx.rect(x, y, cw, ch); ctx.clip(); ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 2;
        for (let d = -ch; d < cw; d += 8) { ctx.beginPath(); ctx.moveTo(x + d, y + ch); ctx.lineTo(x + d + ch, y); ctx.stroke(); }
        ctx.restore();
      }
    }
    const tickEvery = (n) => Math.max(1, Math.ceil(n / 6));
    axes(ctx, M.left, M.top, plotW(), plotH(),
         m.lrs.map((v, i) => [v, M.left + (i + 0.5) * cw]).filter((_, i) => i % tickEvery(nx) === 0),
         m.sigmas.map((v, j) => [v, M.top + (ny - 0.5 - j) * ch]).filter((_, j) => j % tickEvery(ny) === 0),
         "learning rate (GD)", "gradient noise scale \u03C3", (v) => fmt(v, 2), (v) => fmt(v, 2));
    // the current setting, when it is GD on this map's axes
    const lr = lrStops()[state.lr], sigma = noiseScale(state.noise);
    const i = nearestIndex(m.lrs, lr, false), j = nearestIndex(m.sigmas, sigma, false);
    ctx.strokeStyle = C.orange; ctx.lineWidth = 4;
    ctx.strokeRect(M.left + i * cw, M.top + (ny - 1 - j) * ch, cw, ch);
  }

  function lossSeries(run) {
    const p = preset(), out = [];
    for (let k = 0; k < run.K; k++) {
      const q = iterate(run, k);
      out.push(finite2(q) ? p.f.value(q[0], q[1]) : NaN);
    }
    return out;
  }
  function drawLoss(run) {
    const p = preset(), ctx = lossCanvas.getContext("2d"), W = lossCanvas.cssW, H = lossCanvas.cssH;
    const L = { left: 86, right: 14, top: 30, bottom: 62 }, w = W - L.left - L.right, h = H - L.top - L.bottom;
    ctx.clearRect(0, 0, W, H);
    const raw = lossSeries(run).slice(0, state.steps + 1);
    const log = p.minValue !== null;
    const ys = raw.map((v) => log ? Math.max(v - p.minValue, 1e-12) : v);
    const good = ys.filter((v) => isFinite(v) && Math.abs(v) < 1e30);
    let lo = Math.min(...good), hi = Math.max(...good);
    if (log) { lo = Math.log10(lo); hi = Math.log10(hi); }
    else { // unbounded below (the saddle): the axis spans the values inside the plotted box
      const [blo, bhi] = p.box, corners = [p.f.value(blo[0], 0), p.f.value(0, blo[1]), p.f.value(bhi[0], 0), p.f.value(0, bhi[1])];
      lo = Math.max(lo, Math.min(...corners)); hi = Math.min(hi, Math.max(...corners));
    }
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    const tx = (k) => L.left + k / Math.max(1, state.steps) * w;
    const ty = (v) => { const u = log ? Math.log10(v) : v; return L.top + (hi - u) / (hi - lo) * h; };
    const yticks = log ? logTicks(lo, hi).map((v) => [v, ty(v)]) : niceTicks(lo, hi, 5).map((v) => [v, ty(v)]);
    axes(ctx, L.left, L.top, w, h, niceTicks(0, state.steps, 5).map((k) => [k, tx(k)]), yticks, "step",
         log ? "loss f(x\u2096) \u2212 f_min" : "loss f(x\u2096)", (v) => fmt(v, 3), (v) => log ? fmtLog(v) : fmt(v, 2));
    ctx.save(); ctx.beginPath(); ctx.rect(L.left, L.top, w, h); ctx.clip();
    const st = styleOf(state.opt);
    ctx.beginPath(); let started = false, diverged = -1;
    for (let k = 0; k <= state.steps; k++) {
      if (!isFinite(ys[k]) || Math.abs(ys[k]) >= 1e30) { if (diverged < 0) diverged = k; break; }
      const x = tx(k), y = clampPx(ty(ys[k]));
      if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
    }
    ctx.strokeStyle = st.color; ctx.lineWidth = 3; ctx.setLineDash(DASHES[st.linestyle] || []); ctx.stroke(); ctx.setLineDash([]);
    if (isFinite(ys[state.step])) { ctx.beginPath(); ctx.arc(tx(state.step), ty(ys[state.step]), 7, 0, 2 * Math.PI); ctx.fillStyle = st.color; ctx.fill(); }
    ctx.strokeStyle = C.grey; ctx.lineWidth = 1.5; ctx.beginPath(); ctx.moveTo(tx(state.step), L.top); ctx.lineTo(tx(state.step), L.top + h); ctx.stroke();
    ctx.restore();
    ctx.fillStyle = C.black; ctx.font = "bold 19px system-ui, sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "top";
    ctx.fillText("loss against step" + (diverged >= 0 ? " (not finite from step " + diverged + ")" : ""), L.left, 4);
    return { series: raw, log: log, box: { left: L.left, top: L.top, w: w, h: h } };
  }

  function stability(run, last) {
    const p = preset(), lr = lrStops()[state.lr], beta = G.beta1[state.beta1];
    const here = iterate(run, last);
    let ref = 0, best = Infinity;
    p.references.forEach((r, i) => { const d = Math.hypot(r[0] - here[0], r[1] - here[1]); if (d < best) { best = d; ref = i; } });
    let threshold = 2, rule = "GD: stable iff 0 < lr\u00B7\u03BB < 2";
    if (state.opt === "momentum") { threshold = 2 + 2 * beta; rule = "heavy-ball momentum: stable iff 0 < lr\u00B7\u03BB < 2 + 2\u03B2 = " + fmt(threshold); }
    if (state.opt === "Nesterov") { threshold = (2 + 2 * beta) / (1 + 2 * beta); rule = "Nesterov: stable iff 0 < lr\u00B7\u03BB < (2 + 2\u03B2)/(1 + 2\u03B2) = " + fmt(threshold); }
    const adaptive = DATA.adaptive.includes(state.opt);
    const rows = p.eigenvalues[ref].map((lam) => {
      const product = lr * lam;
      return { lambda: lam, etaLambda: product, threshold: threshold, stable: product > 0 && product < threshold, negative: lam <= 0 };
    });
    return { reference: p.references[ref], referenceKind: p.minValue === null ? "saddle point" : "minimum", rows: rows,
             rule: rule, adaptive: adaptive, stable: rows.every((r) => r.stable), lr: lr, criticalLr: 2 / Math.max(...p.eigenvalues[ref]) };
  }
  function drawStability(s) {
    const ref = "(" + s.reference.map((v) => fmt(v, 4)).join(", ") + ")";
    let html = "<table><caption>Stability at the " + s.referenceKind + " " + ref + "</caption>" +
      "<tr><th>direction</th><th>\u03BB (gdsim Hessian)</th><th>lr\u00B7\u03BB</th><th>limit</th><th></th></tr>";
    s.rows.forEach((r, i) => {
      const mark = r.negative ? "<span class='unstable'>\u2191 grows (\u03BB < 0)</span>" : r.stable ? "<span class='stable'>\u2713 stable</span>" : "<span class='unstable'>\u2717 UNSTABLE</span>";
      html += "<tr><td>" + (i + 1) + "</td><td>" + fmt(r.lambda) + "</td><td>" + fmt(r.etaLambda) + "</td><td>" + fmt(r.threshold) + "</td><td>" + mark + "</td></tr>";
    });
    html += "</table>";
    const verdict = s.rows.some((r) => r.negative) ? "<span class='unstable'>a saddle: the negative-curvature direction grows for every lr</span>"
      : s.stable ? "<span class='stable'>\u2713 stable: lr \u00B7 \u03BB_max below the limit</span>"
                 : "<span class='unstable'>\u2717 unstable: lr \u00B7 \u03BB_max above the limit</span>";
    html += "<div class='verdict' id='stability-verdict'>" + verdict + "</div><div class='why'>" + s.rule +
      "; 2/\u03BB_max = " + fmt(s.criticalLr) + "." + (s.adaptive ? " " + state.opt + " rescales each coordinate, so this GD/momentum limit is only a guide for it." : "") +
      " The products are computed in the page from gdsim's eigenvalues.</div>";
    $("stability").innerHTML = html;
  }

  function drawReadout(run, last) {
    const p = preset(), k = state.step, q = iterate(run, k);
    const lines = [];
    lines.push("step " + k + " of " + state.steps + ":  x = " + (finite2(q) ? q[0].toPrecision(7) + ",  y = " + q[1].toPrecision(7) : "not finite (diverged)"));
    if (finite2(q)) lines.push("loss f(x, y) = " + p.f.value(q[0], q[1]).toPrecision(7));
    if (k < state.steps) {
      const n = iterate(run, k + 1);
      if (finite2(q) && finite2(n)) lines.push("update x\u2096\u208A\u2081 \u2212 x\u2096 = (" + (n[0] - q[0]).toPrecision(4) + ", " + (n[1] - q[1]).toPrecision(4) + ")");
    }
    if (last < k) lines.push("the run left the finite numbers after step " + last);
    $("readout").textContent = lines.join("\n");
  }

  function drawLegend() {
    const st = styleOf(state.opt), col = updateColor();
    const item = (color, dash, text) => "<span><span class='swatch' style='border-top-color:" + color + ";border-top-style:" + (dash ? "dashed" : "solid") + "'></span>" + text + "</span>";
    let html = item(st.color, st.linestyle !== "-", state.opt + " trajectory (gdsim)") +
      item(C.orange, false, DATA.adaptive.includes(state.opt) ? "direction of \u2212\u2207f(x\u2096), drawn as long as the update (formula)" : "\u2212lr\u00B7\u2207f(x\u2096), exact gradient (formula)") +
      item(col, false, (state.opt === "momentum" ? "velocity v\u2096\u208A\u2081 = " : "") + "update x\u2096\u208A\u2081 \u2212 x\u2096 (gdsim)");
    if (DATA.adaptive.includes(state.opt)) html += item(col, true, "per-coordinate step");
    html += "<span>\u2605 minimum &nbsp; \u00D7 saddle &nbsp; \u2460 numbered starts</span>";
    $("legend").innerHTML = html;
  }

  // ------------------------------------------------------------------ controls
  const SLIDERS = ["kappa", "lr", "beta1", "beta2", "noise", "seed", "steps"];
  function syncControls() {
    const p = preset();
    $("surface").value = state.family;
    $("optimizer").value = state.opt;
    const set = (id, max, value) => { const el = $(id); el.max = String(max); el.value = String(value); };
    const bowls = presetsOf(state.family);
    set("kappa", bowls.length - 1, state.kappa);
    $("kappa-value").textContent = state.family === "bowl" ? String(kappaOf(p)) : "\u2013";
    set("lr", lrStops().length - 1, state.lr); $("lr-value").textContent = fmt(lrStops()[state.lr]);
    set("beta1", G.beta1.length - 1, state.beta1); $("beta1-value").textContent = uses("beta1") ? fmt(G.beta1[state.beta1]) : "unused";
    set("beta2", G.beta2.length - 1, state.beta2); $("beta2-value").textContent = uses("beta2") ? fmt(G.beta2[state.beta2]) : "unused";
    $("beta1-name").textContent = state.opt === "Adam" ? "beta_1" : "momentum \u03B2";
    $("beta2-name").textContent = state.opt === "RMSprop" ? "rho" : "beta_2";
    set("noise", LEVELS.length - 1, state.noise); $("noise-value").textContent = fmt(noiseScale(state.noise));
    set("seed", G.seeds.length - 1, state.seed); $("seed-value").textContent = LEVELS[state.noise] === 0 ? "unused (no noise)" : String(G.seeds[state.seed]);
    $("steps").max = String(T); $("steps").value = String(state.steps); $("steps-value").textContent = String(state.steps);
    const s = p.starts[state.start];
    $("start-value").textContent = "#" + (state.start + 1) + " (" + fmt(s[0], 3) + ", " + fmt(s[1], 3) + ")";
    $("step-value").textContent = state.step + " / " + state.steps;
    $("play").innerHTML = playing ? "\u2016 pause" : "&#x25B6; play";
    const off = { kappa: state.family !== "bowl", beta1: !uses("beta1"), beta2: !uses("beta2"), seed: LEVELS[state.noise] === 0 };
    for (const id of SLIDERS) {
      $(id).disabled = !!off[id];
      $(id).closest(".control").classList.toggle("off", !!off[id]);
    }
    const hasMap = !!p.escapeMap;
    $("mode-map").disabled = !hasMap;
    if (!hasMap && state.mode === "map") state.mode = "path";
    $("mode-path").setAttribute("aria-pressed", String(state.mode === "path"));
    $("mode-map").setAttribute("aria-pressed", String(state.mode === "map"));
    document.querySelectorAll("[data-control]").forEach((el) => el.classList.toggle("hidden", state.hide.includes(el.dataset.control)));
    document.querySelector("main").classList.toggle("no-controls", state.hide.includes("controls"));
    $("surface-label").textContent = p.label + (state.mode === "map" ? " \u2014 escape map" : "");
    $("note").textContent = (urlError ? "The link could not be read fully: " + urlError + ". " : "") +
      p.note + "  (gdsim: " + p.repr + ")";
    $("note").classList.toggle("unstable", !!urlError);
  }

  let lastRedrawMs = 0, drawn = { last: 0 }, lossInfo = null, playing = false, timer = null;
  function render() {
    const t0 = performance.now();
    clampState();
    syncControls();
    const run = currentRun();
    if (state.mode === "map") { drawMap(); $("legend").innerHTML = mapLegend(); } else { drawContour(); drawLegend(); }
    lossInfo = drawLoss(run);
    // the read-outs follow the iterate on screen (the last finite one when the run diverged)
    let last = 0;
    for (let k = Math.min(state.step, run.K - 1); k >= 0; k--) if (finite2(iterate(run, k))) { last = k; break; }
    drawn = { last: last, run: run };
    drawStability(stability(run, last));
    drawReadout(run, last);
    writeFragment();
    lastRedrawMs = performance.now() - t0;
    return lastRedrawMs;
  }
  function mapLegend() {
    const m = preset().escapeMap;
    return "<span>colour: fraction of " + m.seeds + " seeded noisy-GD runs from the shallow well that end in the deep well after " + m.steps +
      " steps (gdsim, one simulate.run call)</span><span>0% <span class='colorbar' style='background:linear-gradient(to right," + DATA.viridis.join(",") +
      ")'></span> 100%</span><span>white hatching: at least half of them diverged; orange box: the current lr and noise</span>";
  }
  function change(settings) { stop(); applySettings(settings); render(); }

  function play() {
    if (playing) { stop(); render(); return; }
    if (state.step >= state.steps) state.step = 0;
    playing = true;
    timer = setInterval(() => {
      if (state.step >= state.steps) { stop(); render(); return; }
      state.step += 1; render();
    }, 90);
    render();
  }
  function stop() { playing = false; if (timer) clearInterval(timer); timer = null; }

  // ------------------------------------------------------------------ events
  for (const fam of FAMILIES) $("surface").add(new Option(FAMILY_LABEL[fam] || fam, fam));
  for (const o of DATA.optimizers) $("optimizer").add(new Option(o, o));
  $("surface").addEventListener("change", (e) => change({ surface: e.target.value }));
  $("optimizer").addEventListener("change", (e) => {
    const lr = lrStops()[state.lr]; // keep the learning rate as close as the new stops allow
    state.opt = e.target.value; state.lr = nearestIndex(lrStops(), lr, true); change({});
  });
  for (const id of ["kappa", "lr", "beta1", "beta2", "noise", "seed"]) {
    $(id).addEventListener("input", (e) => { stop(); state[id] = Number(e.target.value); render(); });
  }
  $("steps").addEventListener("input", (e) => { stop(); state.steps = Number(e.target.value); state.step = state.steps; render(); });
  $("reset").addEventListener("click", () => { stop(); state.step = 0; render(); });
  $("back").addEventListener("click", () => { stop(); state.step -= 1; render(); });
  $("forward").addEventListener("click", () => { stop(); state.step += 1; render(); });
  $("play").addEventListener("click", play);
  $("mode-path").addEventListener("click", () => change({ mode: "path" }));
  $("mode-map").addEventListener("click", () => change({ mode: "map" }));

  function eventPoint(canvas, e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.cssW / r.width, (e.clientY - r.top) * canvas.cssH / r.height];
  }
  contour.addEventListener("click", (e) => {
    if (state.mode === "map") return;
    const p = preset(), [px, py] = eventPoint(contour, e), [x, y] = fromPx(p, px, py);
    const span = p.box[1][0] - p.box[0][0];
    let best = 0, bestD = Infinity;
    p.starts.forEach((s, i) => { const d = Math.hypot(s[0] - x, s[1] - y) / span; if (d < bestD) { bestD = d; best = i; } });
    stop(); state.start = best; state.step = state.steps; render();
  });
  const tooltip = $("tooltip");
  function showTip(canvas, e, text) {
    tooltip.textContent = text; tooltip.style.display = "block";
    const wrap = contour.parentElement.getBoundingClientRect();
    tooltip.style.left = (e.clientX - wrap.left + 16) + "px"; tooltip.style.top = (e.clientY - wrap.top + 16) + "px";
  }
  contour.addEventListener("mousemove", (e) => {
    const p = preset(), [px, py] = eventPoint(contour, e);
    if (px < M.left || px > M.left + plotW() || py < M.top || py > M.top + plotH()) { tooltip.style.display = "none"; return; }
    if (state.mode === "map") {
      const m = p.escapeMap, cell = (u, n) => Math.max(0, Math.min(n - 1, Math.floor(u * n)));
      const i = cell((px - M.left) / plotW(), m.lrs.length), j = m.sigmas.length - 1 - cell((py - M.top) / plotH(), m.sigmas.length);
      showTip(contour, e, "lr = " + m.lrs[i] + ",  \u03C3 = " + m.sigmas[j] + "\nreached the deep well: " + Math.round(m.escaped[j][i] * m.seeds) + " of " + m.seeds +
        " (" + fmt(100 * m.escaped[j][i], 3) + "%)\ndiverged: " + fmt(100 * m.diverged[j][i], 3) + "%");
      return;
    }
    const [x, y] = fromPx(p, px, py);
    let text = "x = " + x.toPrecision(5) + ",  y = " + y.toPrecision(5) + "\nf(x, y) = " + p.f.value(x, y).toPrecision(6) + "  (formula)";
    const run = drawn.run;
    let best = -1, bestD = 14;
    for (let k = 0; k <= drawn.last; k++) {
      const q = iterate(run, k), [qx, qy] = toPx(p, q[0], q[1]), d = Math.hypot(qx - px, qy - py);
      if (d < bestD) { bestD = d; best = k; }
    }
    if (best >= 0) {
      const q = iterate(run, best);
      text = "step " + best + " (gdsim, float32)\nx = " + q[0].toPrecision(8) + "\ny = " + q[1].toPrecision(8) + "\nf = " + p.f.value(q[0], q[1]).toPrecision(7);
    }
    showTip(contour, e, text);
  });
  contour.addEventListener("mouseleave", () => { tooltip.style.display = "none"; });
  lossCanvas.addEventListener("mousemove", (e) => {
    if (!lossInfo) return;
    const [px] = eventPoint(lossCanvas, e), b = lossInfo.box;
    const k = Math.round((px - b.left) / b.w * state.steps);
    if (k < 0 || k > state.steps) { tooltip.style.display = "none"; return; }
    const v = lossInfo.series[k];
    showTip(lossCanvas, e, "step " + k + "\nf(x\u2096) = " + (isFinite(v) ? v.toPrecision(7) : "not finite") +
      (lossInfo.log && isFinite(v) ? "\nf(x\u2096) \u2212 f_min = " + (v - preset().minValue).toPrecision(5) : ""));
  });
  lossCanvas.addEventListener("mouseleave", () => { tooltip.style.display = "none"; });

  document.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) return;
    const cycle = (list, value) => list[(list.indexOf(value) + 1) % list.length];
    let handled = true;
    switch (e.key) {
      case "ArrowRight": stop(); state.step += 1; break;
      case "ArrowLeft": stop(); state.step -= 1; break;
      case " ": play(); e.preventDefault(); return;
      case "Home": stop(); state.step = 0; break;
      case "End": stop(); state.step = state.steps; break;
      case "]": stop(); state.lr += 1; break;
      case "[": stop(); state.lr -= 1; break;
      case "n": stop(); state.noise = (state.noise + 1) % LEVELS.length; break;
      case "o": { const lr = lrStops()[state.lr]; stop(); state.opt = cycle(DATA.optimizers, state.opt); state.lr = nearestIndex(lrStops(), lr, true); break; }
      case "s": stop(); state.family = cycle(FAMILIES, state.family); break;
      case "m": stop(); state.mode = state.mode === "map" || !preset().escapeMap ? "path" : "map"; break;
      default: handled = false;
    }
    if (handled) { e.preventDefault(); render(); }
  });
  window.addEventListener("hashchange", () => { if (location.hash !== lastFragment) { stop(); readFragment(); render(); } });

  $("provenance").textContent =
    "Where the numbers come from. Every iterate x\u2096 drawn is gdsim's: gdsim " + DATA.gdsimVersion + " ran simulate.run once per surface and optimizer over the grid of slider stops (" +
    DATA.dtype + ", Keras's formulas), and the page shows the run at the stops you chose; noise of seed s is simulate.run(..., noise=Gaussian(scale), seed=" + DATA.noiseRoot +
    ", run_ids=s). Nothing is interpolated: sliders move between precomputed stops, a click takes the nearest numbered start, and the first n steps of a run are exactly the n-step run. " +
    "Computed in this page, from the surface's formula in float64: the contour shading, the hover value f(x, y), the \u2212lr\u00B7\u2207f arrow and the loss curve f(x\u2096) at gdsim's iterates; " +
    "the stability table multiplies gdsim's Hessian eigenvalues by the learning rate. The escape map is gdsim's (one simulate.run call). " +
    (DATA.quick ? "This is the --quick file (fewer stops, " + T + " steps)." : "");

  // ------------------------------------------------------------------ test hook
  window.gdsimExplorer = {
    version: DATA.format,
    /** The current settings, as values (what the URL fragment says) plus slider positions. */
    state: () => ({ surface: preset().key, family: state.family, optimizer: state.opt, lr: lrStops()[state.lr],
                    beta1: uses("beta1") ? G.beta1[state.beta1] : null, beta2: uses("beta2") ? G.beta2[state.beta2] : null,
                    noise: noiseScale(state.noise), seed: G.seeds[state.seed], start: state.start + 1, startPoint: preset().starts[state.start],
                    steps: state.steps, step: state.step, mode: state.mode, hide: state.hide.slice(), playing: playing,
                    fragment: toFragment() }),
    /** Change settings (same keys and values as the URL fragment) and redraw; returns state(). */
    set: (settings) => { change(settings || {}); return window.gdsimExplorer.state(); },
    /** The drawn trajectory: iterates 0..step (the last finite one at most), as float32 values. */
    trajectory: () => { const out = []; for (let k = 0; k <= drawn.last; k++) out.push(iterate(drawn.run, k)); return out; },
    /** The run's iterate after `steps` updates (what simulate.run(..., steps) ends at). */
    endPoint: () => iterate(currentRun(), state.steps),
    stability: () => stability(currentRun(), drawn.last),
    stabilityText: () => $("stability-verdict").textContent,
    lastRedrawMs: () => lastRedrawMs,
    redraw: () => render(),
    surfaceValue: (x, y) => preset().f.value(x, y),
    surfaceGrad: (x, y) => preset().f.grad(x, y),
    /** Where the point (x, y) is on screen, in CSS pixels from the contour canvas's corner. */
    toCanvas: (x, y) => { const r = contour.getBoundingClientRect(), [px, py] = toPx(preset(), x, y); return [px * r.width / contour.cssW, py * r.height / contour.cssH]; },
    surfaces: () => SURFACES.map((s) => s.key),
  };

  readFragment();
  render();
  document.documentElement.dataset.ready = "true";
  // Shade the other surfaces while the lecturer reads, so switching surface is as quick as a slider.
  setTimeout(() => { for (const s of SURFACES) background(s); }, 50);
})();
