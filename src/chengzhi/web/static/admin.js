/* Admin pages: draw a unit's saved area (GeoJSON from the server) on a Leaflet map, no tiles needed, with the
   area of the unit above it in grey dashes for context. */
(function () {
  "use strict";
  function geojson(url) {
    return fetch(url, { headers: { Accept: "application/geo+json, application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; });
  }
  document.querySelectorAll(".map[data-geojson]").forEach(function (el) {
    if (!window.L) { return; }
    var map = L.map(el, { attributionControl: false });
    var context = el.dataset.context ? geojson(el.dataset.context) : Promise.resolve(null);
    Promise.all([geojson(el.dataset.geojson), context]).then(function (found) {
      if (found[1]) {
        L.geoJSON(found[1], { interactive: false,
          style: { color: "#555", weight: 1, dashArray: "4 4", fill: false } }).addTo(map);
      }
      var layer = L.geoJSON(found[0], { style: { color: "#9b1c1c", weight: 2, fillOpacity: 0.15 } }).addTo(map);
      if (layer.getBounds().isValid()) { map.fitBounds(layer.getBounds(), { padding: [12, 12] }); }
      else { map.setView([39.9, 116.4], 10); }
    });
  });
})();

/* A file over the upload limit is refused here, next to its field: the server would refuse the whole body before
   the page could explain (the server checks the limit again for every upload). */
(function () {
  "use strict";
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    input.form.addEventListener("submit", function (e) {
      var file = input.files && input.files[0];
      if (!file || file.size <= parseInt(input.dataset.maxBytes, 10)) { return; }
      e.preventDefault();
      var id = input.id + "-error";
      var message = document.getElementById(id);
      if (!message) {
        message = document.createElement("p");
        message.className = "error";
        message.id = id;
        input.insertAdjacentElement("afterend", message);
      }
      message.textContent = input.dataset.tooLarge;
      input.setAttribute("aria-invalid", "true");
      var hint = input.getAttribute("aria-describedby") || "";
      if (hint.indexOf(id) < 0) { input.setAttribute("aria-describedby", (hint + " " + id).trim()); }
      input.focus();
    });
  });
})();
