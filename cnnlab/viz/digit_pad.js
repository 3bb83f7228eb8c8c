(function () {
  // The digit pad of cnnlab.viz.digit_pad: draw a digit, see what the trained network reads.
  var root = document.getElementById("ELEMENT_ID");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var spec = JSON.parse(root.querySelector(".cnnlab-pad-data").textContent);
  var SIZE = spec.size, BITMAP = 4 * SIZE;  // scikit-learn's digits: 4x4 blocks of a 32x32 bitmap

  // ---- the forward pass: the same arithmetic as cnnlab's backends, one image at a time.
  // A tensor is {c, h, w, v} with v[(k * h + i) * w + j] = value of channel k at (i, j).
  function conv(x, layer) {
    var f = layer.shape[0], kh = layer.shape[2], kw = layer.shape[3];
    var s = layer.stride, p = layer.padding;
    var oh = Math.floor((x.h + 2 * p[0] - kh) / s[0]) + 1;
    var ow = Math.floor((x.w + 2 * p[1] - kw) / s[1]) + 1;
    var v = new Float64Array(f * oh * ow);
    for (var o = 0; o < f; o++)
      for (var i = 0; i < oh; i++)
        for (var j = 0; j < ow; j++) {
          var sum = layer.b[o];
          for (var c = 0; c < x.c; c++)
            for (var di = 0; di < kh; di++)
              for (var dj = 0; dj < kw; dj++) {
                var r = i * s[0] + di - p[0], q = j * s[1] + dj - p[1];
                if (r < 0 || r >= x.h || q < 0 || q >= x.w) continue;  // zero padding
                sum += layer.w[((o * x.c + c) * kh + di) * kw + dj] * x.v[(c * x.h + r) * x.w + q];
              }
          v[(o * oh + i) * ow + j] = sum;
        }
    return {c: f, h: oh, w: ow, v: v};
  }
  function relu(x) {
    return {c: x.c, h: x.h, w: x.w, v: x.v.map(function (a) { return a > 0 ? a : 0; })};
  }
  function maxpool(x, layer) {
    var kh = layer.size[0], kw = layer.size[1], s = layer.stride;
    var oh = Math.floor((x.h - kh) / s[0]) + 1, ow = Math.floor((x.w - kw) / s[1]) + 1;
    var v = new Float64Array(x.c * oh * ow);
    for (var c = 0; c < x.c; c++)
      for (var i = 0; i < oh; i++)
        for (var j = 0; j < ow; j++) {
          var m = -Infinity;
          for (var di = 0; di < kh; di++)
            for (var dj = 0; dj < kw; dj++)
              m = Math.max(m, x.v[(c * x.h + i * s[0] + di) * x.w + j * s[1] + dj]);
          v[(c * oh + i) * ow + j] = m;
        }
    return {c: x.c, h: oh, w: ow, v: v};
  }
  function linear(x, layer) {
    var out = layer.shape[0], n = layer.shape[1], v = new Float64Array(out);
    for (var o = 0; o < out; o++) {
      var sum = layer.b[o];
      for (var k = 0; k < n; k++) sum += layer.w[o * n + k] * x.v[k];
      v[o] = sum;
    }
    return {c: out, h: 1, w: 1, v: v};
  }
  function softmax(x) {
    var top = Math.max.apply(null, x.v), e = x.v.map(function (a) { return Math.exp(a - top); });
    var total = e.reduce(function (a, b) { return a + b; }, 0);
    return {c: x.c, h: 1, w: 1, v: e.map(function (a) { return a / total; })};
  }
  var LAYERS = {conv: conv, relu: relu, maxpool: maxpool, linear: linear, softmax: softmax,
                flatten: function (x) { return {c: x.v.length, h: 1, w: 1, v: x.v}; }};

  // pixels: SIZE * SIZE gray levels 0..16, row by row. Returns every layer's output.
  function forward(pixels) {
    var x = {c: 1, h: SIZE, w: SIZE, v: Float64Array.from(pixels, function (a) {
      return (a / spec.max_pixel - spec.mean) / spec.std;
    })};
    var outputs = [];
    spec.layers.forEach(function (layer) { x = LAYERS[layer.type](x, layer); outputs.push(x); });
    return outputs;
  }

  // ---- drawing, and preparing a drawing as the training digits were prepared
  var pad = root.querySelector("canvas.cnnlab-pad-draw"), pen = pad.getContext("2d");
  var strokes = [], drawing = false;
  function point(event) {
    var box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * pad.width / box.width,
            (event.clientY - box.top) * pad.height / box.height];
  }
  function paint() {
    pen.fillStyle = "#fff";
    pen.fillRect(0, 0, pad.width, pad.height);
    trace(pen, strokes, function (p) { return p; }, spec.stroke * pad.width, "#000");
  }
  function trace(ctx, lines, place, width, color) {
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.lineWidth = width;
    ctx.lineCap = ctx.lineJoin = "round";
    lines.forEach(function (line) {
      var a = place(line[0]);
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      if (line.length === 1) ctx.lineTo(a[0] + 0.01, a[1]);  // a dot
      line.slice(1).forEach(function (p) { var b = place(p); ctx.lineTo(b[0], b[1]); });
      ctx.stroke();
    });
  }
  // The strokes scaled so that the digit's longer side fills the 32x32 bitmap, centred,
  // drawn with a pen as wide as the data set's, cut to ink or paper, and each 4x4 block's
  // ink pixels counted: 0 to 16, like scikit-learn's digits.
  function prepare(lines) {
    var points = [].concat.apply([], lines);
    if (!points.length) return null;
    var xs = points.map(function (p) { return p[0]; }), ys = points.map(function (p) { return p[1]; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    var width = spec.pen * BITMAP, room = BITMAP - width;
    var scale = room / Math.max(x1 - x0, y1 - y0, 1e-9);
    var cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    var bitmap = document.createElement("canvas");
    bitmap.width = bitmap.height = BITMAP;
    var ctx = bitmap.getContext("2d");
    trace(ctx, lines, function (p) {
      return [BITMAP / 2 + (p[0] - cx) * scale, BITMAP / 2 + (p[1] - cy) * scale];
    }, width, "#000");
    var ink = ctx.getImageData(0, 0, BITMAP, BITMAP).data, pixels = new Array(SIZE * SIZE).fill(0);
    for (var i = 0; i < BITMAP; i++)
      for (var j = 0; j < BITMAP; j++)
        if (ink[(i * BITMAP + j) * 4 + 3] >= 128) pixels[(i >> 2) * SIZE + (j >> 2)] += 1;
    return pixels;
  }

  // ---- showing what the network read
  var bars = root.querySelector(".cnnlab-pad-bars"), verdict = root.querySelector(".cnnlab-pad-verdict");
  var maps = root.querySelector(".cnnlab-pad-maps");
  function grid(values, h, w, cell, signed) {
    var canvas = document.createElement("canvas"), ctx = canvas.getContext("2d");
    canvas.width = w * cell; canvas.height = h * cell;
    var top = Math.max.apply(null, values.map(Math.abs)) || 1;
    for (var i = 0; i < h; i++)
      for (var j = 0; j < w; j++) {
        var a = values[i * w + j] / top;
        var shade = signed ? Math.round(255 * (1 - Math.abs(a))) : Math.round(255 * (1 - a));
        ctx.fillStyle = signed && a < 0 ? "rgb(" + shade + "," + shade + ",255)"
          : signed ? "rgb(255," + shade + "," + shade + ")"
          : "rgb(" + shade + "," + shade + "," + shade + ")";
        ctx.fillRect(j * cell, i * cell, cell, cell);
      }
    return canvas;
  }
  function show(pixels) {
    root.cnnlabLastPixels = pixels;
    maps.textContent = "";
    if (!pixels) {
      bars.textContent = "";
      verdict.textContent = "Draw a digit in the box.";
      root.cnnlabLastProbabilities = null;
      return;
    }
    var outputs = forward(pixels), probs = Array.from(outputs[outputs.length - 1].v);
    root.cnnlabLastProbabilities = probs;
    var best = probs.indexOf(Math.max.apply(null, probs));
    verdict.textContent = "The network reads " + best + " (probability " +
      Math.round(100 * probs[best]) + "%).";
    bars.textContent = "";
    probs.forEach(function (p, k) {
      var row = document.createElement("div");
      row.className = "cnnlab-pad-bar";
      row.innerHTML = "<span>" + k + "</span><span style='display:inline-block;height:0.9em;" +
        "width:" + (p * 12).toFixed(2) + "em;background:" + (k === best ? "#e67e22" : "#3b75af") +
        "'></span> <span>" + (100 * p).toFixed(1) + "%</span>";
      bars.appendChild(row);
    });
    var seen = document.createElement("div");
    seen.appendChild(document.createTextNode("what the network sees (8 x 8, 0-16): "));
    seen.appendChild(grid(pixels, SIZE, SIZE, 10, false));
    maps.appendChild(seen);
    outputs.forEach(function (x, n) {
      var layer = spec.layers[n];
      if (x.h < 2 || layer.type === "relu") return;  // ReLU's maps are conv's, cut at zero
      var row = document.createElement("div");
      row.appendChild(document.createTextNode(layer.name + ": "));
      for (var c = 0; c < x.c; c++) {
        var map = Array.from(x.v.slice(c * x.h * x.w, (c + 1) * x.h * x.w));
        var canvas = grid(map, x.h, x.w, Math.max(3, Math.round(24 / x.h)), true);
        canvas.style.margin = "0 2px";
        row.appendChild(canvas);
      }
      maps.appendChild(row);
    });
  }

  pad.addEventListener("pointerdown", function (event) {
    drawing = true; pad.setPointerCapture(event.pointerId);
    strokes.push([point(event)]); paint(); event.preventDefault();
  });
  pad.addEventListener("pointermove", function (event) {
    if (!drawing) return;
    strokes[strokes.length - 1].push(point(event)); paint(); event.preventDefault();
  });
  function lift() { if (drawing) { drawing = false; show(prepare(strokes)); } }
  pad.addEventListener("pointerup", lift);
  pad.addEventListener("pointercancel", lift);
  root.querySelector(".cnnlab-pad-clear").addEventListener("click", function () {
    strokes = []; paint(); show(null);
  });
  var examples = root.querySelector(".cnnlab-pad-examples");
  spec.examples.forEach(function (example) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "test digit " + example.label;
    button.addEventListener("click", function () { strokes = []; paint(); show(example.pixels); });
    examples.appendChild(button);
  });
  root.cnnlabDigitPad = {forward: function (pixels) {
    var outputs = forward(pixels);
    return Array.from(outputs[outputs.length - 1].v);
  }, prepare: prepare};
  root.querySelector(".cnnlab-pad-live").hidden = false;
  root.querySelector(".cnnlab-pad-still").hidden = true;
  paint();
  show(null);
})();
