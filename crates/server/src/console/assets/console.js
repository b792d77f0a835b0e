// The console's live parts, in plain JavaScript (no build step):
// - [data-refresh="N"]: the element is fetched again every N seconds
//   (while the tab is visible) and swapped in place.
// - #timeline[data-events]: new timeline entries arrive over Server-Sent
//   Events as anyone acts; the room's summary is refreshed with them.
// - [data-countdown]: a live countdown to a deadline, on the server's clock.
// - #preview-button: shows exactly what an update will say before posting.
(function () {
  "use strict";

  function fetchPage(url) {
    return fetch(url, { headers: { "Accept": "text/html" }, cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (r.redirected && r.url.indexOf("/login") !== -1) { window.location = r.url; return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { return html ? new DOMParser().parseFromString(html, "text/html") : null; });
  }

  function swap(id) {
    return fetchPage(window.location.href).then(function (doc) {
      var next = doc && doc.getElementById(id);
      var here = document.getElementById(id);
      if (next && here && next.innerHTML !== here.innerHTML) { here.innerHTML = next.innerHTML; startCountdowns(); }
    }).catch(function () {});
  }

  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    var every = parseInt(el.getAttribute("data-refresh"), 10) * 1000;
    window.setInterval(function () { if (!document.hidden) { swap(el.id); } }, every);
  });

  var timeline = document.getElementById("timeline");
  if (timeline && window.EventSource) {
    var url = timeline.getAttribute("data-events") + "?after=" + timeline.getAttribute("data-after");
    var source = new EventSource(url);
    source.addEventListener("timeline", function (e) {
      var holder = document.createElement("ol");
      holder.innerHTML = e.data;
      Array.prototype.slice.call(holder.children).forEach(function (li) {
        if (!document.getElementById(li.id)) { timeline.appendChild(li); }
      });
      swap("summary");
    });
  }

  var timers = [];
  function startCountdowns() {
    timers.forEach(window.clearInterval);
    timers = [];
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      // Counted on the server's clock, not this device's (which may be off).
      var skew = el.hasAttribute("data-now") ? Date.parse(el.getAttribute("data-now")) - Date.now() : 0;
      var due = Date.parse(el.getAttribute("data-countdown")) - skew;
      var label = el.textContent;
      function tick() {
        var s = Math.round((due - Date.now()) / 1000);
        var a = Math.abs(s), h = Math.floor(a / 3600), m = Math.floor(a / 60) % 60, sec = a % 60;
        var span = (h ? h + "h " : "") + m + "m " + (sec < 10 ? "0" : "") + sec + "s";
        el.textContent = label + (s >= 0 ? " (in " + span + ")" : " (" + span + " ago)");
      }
      tick();
      timers.push(window.setInterval(tick, 1000));
    });
  }
  startCountdowns();

  var button = document.getElementById("preview-button");
  if (button) {
    button.addEventListener("click", function () {
      var form = document.getElementById("update-form");
      var body = new URLSearchParams(new FormData(form));
      fetch(form.getAttribute("data-preview"), { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) { document.getElementById("preview").innerHTML = html; })
        .catch(function () {});
    });
  }
})();
