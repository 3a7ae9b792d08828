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
