// hollow explorer: progressive enhancement only. Pages work without it.
(function () {
  "use strict";
  var body = document.body;
  var shown = Number(body.getAttribute("data-version"));
  var banner = document.getElementById("new-version");
  // Server-sent events: say when a newer version than the one shown is served.
  if (window.EventSource && banner) {
    var events = new EventSource("/events");
    events.addEventListener("version", function (e) {
      var v = JSON.parse(e.data).version;
      if (!(v > shown)) return;
      var url = new URL(window.location.href);
      url.searchParams.set("version", String(v));
      banner.querySelector("a").setAttribute("href", url.pathname + url.search);
      banner.querySelector(".v").textContent = String(v);
      banner.classList.add("show");
    });
  }
  // Data fields: toggle between base64 (as the API prints them) and hex.
  document.querySelectorAll(".bytes").forEach(function (el) {
    var b64 = el.getAttribute("data-base64");
    var text = el.querySelector(".value");
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "hex";
    button.addEventListener("click", function () {
      if (button.textContent === "hex") {
        var raw = atob(b64), hex = [];
        for (var i = 0; i < raw.length; i++) hex.push(("0" + raw.charCodeAt(i).toString(16)).slice(-2));
        text.textContent = hex.join(" ");
        button.textContent = "base64";
      } else {
        text.textContent = b64;
        button.textContent = "hex";
      }
    });
    el.appendChild(button);
  });
})();
