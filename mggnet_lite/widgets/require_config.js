// Written by `python -m mggnet_lite.widgets offline-assets DIR` (see mggnet_lite/widgets/static.py).
// Maps the AMD module "anywidget" to the copy beside this file, so the ipywidgets HTML
// manager loads it from this site instead of falling back to a CDN (static pages work offline).
(function () {
  var src = document.currentScript && document.currentScript.src;
  if (!src || !window.requirejs) { return; }
  var here = src.substring(0, src.lastIndexOf("/") + 1);
  window.requirejs.config({ paths: { anywidget: here + "index" } });
})();
