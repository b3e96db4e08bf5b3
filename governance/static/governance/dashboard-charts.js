/*
 * The admin dashboard's charts, drawn with the vendored Chart.js (vendor/chartjs/) from the JSON that
 * the page carries next to each chart (Django's json_script). Without JavaScript the page shows the
 * same numbers as tables; once a chart is drawn, its table folds into the <details> under it.
 * No inline scripts, no eval: it runs under the content security policy (script-src 'self').
 */
(function () {
  "use strict";

  var BAR_ROW_PX = 28; // height of one label's row in a horizontal bar chart
  var MIN_HEIGHT_PX = 140;
  var LINE_HEIGHT_PX = 220;

  function adminColour(name, fallback) {
    var value = window.getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function seriesColours() {
    return [adminColour("--primary", "#79aec8"), adminColour("--secondary", "#417690")];
  }

  function datasets(spec) {
    var colours = seriesColours();
    return spec.series.map(function (series, index) {
      var colour = colours[index % colours.length];
      return {
        label: series.label,
        data: series.values,
        backgroundColor: colour,
        borderColor: colour,
        pointRadius: 3,
        tension: 0,
      };
    });
  }

  function valueAxis(spec) {
    var whole = spec.unit !== "hours";
    return {
      beginAtZero: true,
      title: { display: true, text: spec.unit },
      ticks: whole ? { precision: 0 } : {},
    };
  }

  function config(spec) {
    var horizontal = spec.kind === "bars";
    var scales = horizontal ? { x: valueAxis(spec), y: {} } : { x: {}, y: valueAxis(spec) };
    return {
      type: horizontal ? "bar" : "line",
      data: { labels: spec.labels, datasets: datasets(spec) },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: scales,
        plugins: {
          legend: { display: spec.series.length > 1, position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + item.formattedValue + " " + spec.unit;
              },
            },
          },
        },
      },
    };
  }

  function height(spec) {
    if (spec.kind !== "bars") {
      return LINE_HEIGHT_PX;
    }
    var rows = spec.labels.length * Math.max(1, spec.series.length * 0.75);
    return Math.max(MIN_HEIGHT_PX, Math.round(rows * BAR_ROW_PX) + 60);
  }

  function draw(holder) {
    var source = document.getElementById(holder.dataset.chart);
    if (!source) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    holder.style.height = height(spec) + "px";
    holder.hidden = false;
    new window.Chart(holder.querySelector("canvas"), config(spec));
    var numbers = holder.parentElement.querySelector("details.gatehouse-numbers");
    if (numbers) {
      numbers.open = false;
    }
  }

  if (!window.Chart) {
    return; // the tables stay open
  }
  window.Chart.defaults.color = adminColour("--body-quiet-color", "#666");
  window.Chart.defaults.borderColor = adminColour("--hairline-color", "#e8e8e8");
  document.querySelectorAll(".gatehouse-chart[data-chart]").forEach(draw);
})();
