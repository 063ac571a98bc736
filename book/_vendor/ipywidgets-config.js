// Loaded between require.js and embed-amd.js (sphinx.config.nb_ipywidgets_js in _config.yml).
// The widget bundle looks for its fonts next to its AMD module URL; point it, and the module
// paths, at the copies served from the book itself, so that widgets render offline.
(function () {
  const dir = new URL("ipywidgets/", document.currentScript.src).href;
  window.__jupyter_widgets_assets_path__ = dir;
  const base = dir.replace(/\/$/, "");
  require.config({
    paths: { "@jupyter-widgets": base, "@jupyter-widgets/html-manager/dist": base },
  });
})();

// The bundle typesets widget labels through MathJax 2's API (MathJax.Hub.Queue); the book
// loads MathJax 3. Bridge the call once MathJax is there (deferred scripts run before this event,
// and this listener is registered before the bundle's own).
document.addEventListener("DOMContentLoaded", function () {
  if (window.MathJax && !window.MathJax.Hub) {
    window.MathJax.Hub = {
      Queue: function (command) {
        if (window.MathJax.typesetPromise) window.MathJax.typesetPromise([command[2]]);
      },
    };
  }
});
