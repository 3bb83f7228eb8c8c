// Embedded widgets on the static pages: the widget manager (embed.js) draws
// them when the page has loaded, from the widget state saved with the page.
"use strict";

// It typesets widget text with MathJax 2's API, MathJax.Hub.Queue(["Typeset",
// MathJax.Hub, node]), which MathJax 3 does not have. Translate that one call.
// Deferred scripts such as MathJax have run by DOMContentLoaded; the widgets
// are drawn later, on "load".
document.addEventListener("DOMContentLoaded", () => {
  const mathjax = window.MathJax;
  if (mathjax && !mathjax.Hub) {
    mathjax.Hub = {
      Queue: ([, , node]) =>
        mathjax.typesetPromise ? mathjax.typesetPromise([node]).catch(console.warn) : undefined,
    };
  }
});

// Figures inside a widget's saved output come as <img> without alt text.
// Describe each one as it appears.
(() => {
  const ALT = "Figure drawn by the interactive widget above, with its default settings.";
  const describe = () => {
    for (const img of document.querySelectorAll(".cell_output img:not([alt])")) {
      img.alt = ALT;
    }
  };
  new MutationObserver(describe).observe(document.documentElement, { childList: true, subtree: true });
})();
