/* Admin pages: draw a unit's saved area (GeoJSON from the server) on a Leaflet map, no tiles needed. */
(function () {
  "use strict";
  document.querySelectorAll(".map[data-geojson]").forEach(function (el) {
    if (!window.L) { return; }
    var map = L.map(el, { attributionControl: false });
    fetch(el.dataset.geojson, { headers: { Accept: "application/geo+json, application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var layer = L.geoJSON(data, { style: { color: "#9b1c1c", weight: 2, fillOpacity: 0.15 } }).addTo(map);
        if (layer.getBounds().isValid()) { map.fitBounds(layer.getBounds(), { padding: [12, 12] }); }
        else { map.setView([39.9, 116.4], 10); }
      });
  });
})();
