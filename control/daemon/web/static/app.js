// Refreshes the server-rendered page in place every 2 s; with JavaScript
// off, a <noscript> meta refresh reloads it instead.
"use strict";
(function () {
  const body = document.getElementById("body");
  async function refresh() {
    try {
      const r = await fetch("/?partial", { cache: "no-store" });
      if (!r.ok) throw new Error(r.status);
      body.innerHTML = await r.text();
    } catch (e) {
      const live = document.getElementById("live");
      if (live) { live.textContent = "xlbd not answering"; live.classList.add("stale"); }
    }
    setTimeout(refresh, 2000);
  }
  setTimeout(refresh, 2000);
})();
