// Keeps the status page current without a reload: every 10 s (while the
// tab is visible) the page is fetched again and its <main> swapped in.
(function () {
  "use strict";
  var every = 10000;
  function refresh() {
    if (document.hidden) { return; }
    fetch(window.location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("page");
        var main = document.getElementById("page");
        if (next && main && next.innerHTML !== main.innerHTML) {
          main.innerHTML = next.innerHTML;
          document.title = doc.title;
        }
      })
      .catch(function () { /* offline: try again next time */ });
  }
  window.setInterval(refresh, every);
  document.addEventListener("visibilitychange", refresh);
})();
