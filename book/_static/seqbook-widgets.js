// Loaded on pages with widgets, between require.js and the ipywidgets HTML manager (embed-amd.js).
(function () {
  // 1. The manager's webpack public path (where it finds the icon fonts of the controls) is the
  //    URL of its AMD module; without a mapping RequireJS puts that beside the page. Map it to the
  //    vendored copy next to this file, so the fonts load from the book itself.
  var vendored = new URL("vendor/html-manager/dist", document.currentScript.src).href;
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": vendored } });

  // 2. ipywidgets' controls typeset their labels with MathJax 2's MathJax.Hub.Queue; the book
  //    loads MathJax 3. Route those calls to MathJax 3's typesetPromise.
  function installHub() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.startup) return;
    mj.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : null;
        if (element) {
          mj.startup.promise.then(function () {
            return mj.typesetPromise([element]);
          });
        }
      },
    };
  }
  document.addEventListener("DOMContentLoaded", installHub);
})();
