/* Dashboard charts (ECharts, vendored): the trend or bars of #chart-data, and the choropleth of areas with points. */
(function () {
  "use strict";
  var palette = ["#1f6f8b", "#e07a1f", "#3c9d5d", "#b23a48", "#7a5ea8"];
  var box = document.getElementById("chart");
  var data = document.getElementById("chart-data");
  if (box && data && window.echarts) {
    var spec = JSON.parse(data.textContent);
    var chart = echarts.init(box, null, { renderer: "svg" });
    var twoAxes = spec.kind === "trend";
    chart.setOption({
      color: palette,
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: twoAxes ? 56 : 16, top: 40, bottom: 60 },
      xAxis: { type: "category", data: spec.labels, axisLabel: { rotate: spec.labels.length > 8 ? 45 : 0 } },
      yAxis: twoAxes
        ? [{ type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } }, { type: "value", min: 0 }]
        : [{ type: "value", min: 0 }],
      series: spec.series.map(function (s) { return Object.assign({ connectNulls: true }, s); })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  var mapBox = document.getElementById("area-map");
  if (mapBox && window.echarts) {
    var chartMap = echarts.init(mapBox, null, { renderer: "svg" });
    var inline = document.getElementById("map-data");
    // The areas come inline (the hot issues' pages) or from the metrics API with the requests' points.
    var answers = inline
      ? Promise.resolve([JSON.parse(inline.textContent), { points: [] }])
      : Promise.all([
          fetch(mapBox.dataset.areas, { credentials: "same-origin" }).then(function (r) { return r.json(); }),
          fetch(mapBox.dataset.points, { credentials: "same-origin" }).then(function (r) { return r.json(); })
        ]);
    answers.then(function (answers) {
      var areas = answers[0], pts = answers[1].points || [];
      areas.features.forEach(function (f) { f.properties.name = f.properties.name + " (" + f.properties.code + ")"; });
      echarts.registerMap("city-areas", areas);
      var counts = areas.features.map(function (f) { return { name: f.properties.name, value: f.properties.count }; });
      var max = Math.max(1, Math.max.apply(null, counts.map(function (c) { return c.value; })));
      chartMap.setOption({
        animation: false,
        tooltip: { trigger: "item" },
        visualMap: { min: 0, max: max, calculable: true, left: 8, bottom: 8, inRange: { color: ["#f2f7fb", "#1f6f8b"] } },
        geo: { map: "city-areas", roam: true, itemStyle: { borderColor: "#777" } },
        series: [
          { type: "map", geoIndex: 0, data: counts },
          { type: "scatter", coordinateSystem: "geo", symbolSize: 4, itemStyle: { color: "#e07a1f" },
            data: pts.map(function (p) { return [p.lon, p.lat]; }) }
        ]
      });
      mapBox.dataset.ready = "true";
    });
  }
})();
