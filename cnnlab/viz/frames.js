(function () {
  // One responsive figure (cnnlab.viz.frames): show the frame of the controls' setting.
  var root = document.getElementById("ELEMENT_ID");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var data = JSON.parse(root.querySelector(".cnnlab-frames-data").textContent);
  var image = root.querySelector("img");
  var controls = Array.prototype.slice.call(root.querySelectorAll("[data-control]"));

  function setting() {
    return controls.map(function (control) { return parseInt(control.value, 10); });
  }
  function exists(values) { return values.join(",") in data.frames; }

  var keys = Object.keys(data.frames).map(function (key) { return key.split(",").map(Number); });

  // Is there a frame with value i of control c, the menus' other values, and any slider values?
  function offered(values, c, i) {
    return keys.some(function (key) {
      return key[c] === i && controls.every(function (control, d) {
        return d === c || control.type === "range" || key[d] === values[d];
      });
    });
  }

  // Keep the controls the reader did not touch on values that have a frame: a menu
  // moves to its first value that has one (given the other menus), a slider's range
  // shrinks to the values that have one (given every other control).
  function fit(changed) {
    var menusFirst = controls.filter(function (control) { return control.type !== "range"; })
      .concat(controls.filter(function (control) { return control.type === "range"; }));
    menusFirst.forEach(function (control) {
      if (control === changed) return;
      var c = controls.indexOf(control), values = setting(), allowed = [];
      var slider = control.type === "range";
      var count = slider ? JSON.parse(control.dataset.texts).length : control.options.length;
      for (var i = 0; i < count; i++) {
        values[c] = i;
        var ok = slider ? exists(values) : offered(values, c, i);
        if (ok) allowed.push(i);
      }
      if (!allowed.length) return;
      if (slider) {
        control.min = allowed[0];
        control.max = allowed[allowed.length - 1];
      }
      var now = parseInt(control.value, 10);
      if (allowed.indexOf(now) < 0) {
        control.value = now > allowed[allowed.length - 1] ? allowed[allowed.length - 1] : allowed[0];
      }
    });
  }

  function show(event) {
    fit(event ? event.target : null);
    controls.forEach(function (control) {
      if (control.type === "range") {
        var texts = JSON.parse(control.dataset.texts);
        control.nextElementSibling.textContent = texts[parseInt(control.value, 10)];
      }
    });
    var key = setting().join(",");
    if (!(key in data.frames)) return;
    image.src = "data:" + data.mime + ";base64," + data.images[data.frames[key]];
    image.alt = data.alts[key];
    image.dataset.key = key;
  }

  controls.forEach(function (control) {
    control.addEventListener(control.type === "range" ? "input" : "change", show);
  });
  root.querySelector(".cnnlab-frames-controls").hidden = false;
  show();
})();
