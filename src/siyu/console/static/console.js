/* siyu console behaviour: htmx settings, the overview chart, upload progress. No inline scripts (CSP). */
(function () {
  "use strict";

  if (window.htmx) {
    // Refusals (4xx) carry a readable message in the body: show it instead of dropping it.
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "[45]..", swap: true, error: true },
    ];
    // Back/forward after a cache miss must load whole pages, not the fragments of live search.
    window.htmx.config.historyRestoreAsHxRequest = false;
    // Snapshots would keep members' personal data in localStorage; reload pages instead.
    window.htmx.config.historyCacheSize = 0;
  }

  function initCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.ready) return;
      el.dataset.ready = "1";
      var data = JSON.parse(el.dataset.chart);
      var chart = window.echarts.init(el);
      if (data.option) {  // a page that built its whole ECharts option on the server
        chart.setOption(data.option);
        window.addEventListener("resize", function () { chart.resize(); });
        return;
      }
      if (data.kind === "bars") {
        chart.setOption({
          color: ["#3370ff"],
          tooltip: { trigger: "axis" },
          grid: { left: 160, right: 24, top: 16, bottom: 24 },
          xAxis: { type: "value", minInterval: 1 },
          yAxis: { type: "category", data: data.categories, inverse: true },
          series: [{ name: data.label, type: "bar", data: data.values, barMaxWidth: 18 }],
        });
        window.addEventListener("resize", function () { chart.resize(); });
        return;
      }
      chart.setOption({
        color: ["#07a35a", "#3370ff"],
        tooltip: { trigger: "axis" },
        legend: { top: 0, data: [data.labels.members, data.labels.events] },
        grid: { left: 48, right: 56, top: 48, bottom: 28 },
        xAxis: { type: "category", data: data.days, axisTick: { alignWithLabel: true } },
        yAxis: [
          { type: "value", name: data.labels.members, minInterval: 1 },
          { type: "value", name: data.labels.events, minInterval: 1, splitLine: { show: false } },
        ],
        series: [
          { name: data.labels.members, type: "bar", data: data.members, barMaxWidth: 18 },
          { name: data.labels.events, type: "line", yAxisIndex: 1, data: data.events,
            smooth: true, symbolSize: 5 },
        ],
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  function initBarCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-bar-chart]").forEach(function (el) {
      if (el.dataset.ready) return;
      el.dataset.ready = "1";
      var data = JSON.parse(el.dataset.barChart);
      var chart = window.echarts.init(el);
      chart.setOption({
        color: ["#3370ff", "#07a35a", "#f5a623"],
        tooltip: { trigger: "axis" },
        legend: { top: 0, data: data.series.map(function (s) { return s.name; }) },
        // horizontal bars: a channel's name reads on one line however many there are
        grid: { left: 8, right: 24, top: 36, bottom: 16, containLabel: true },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: {
          type: "category", data: data.names, inverse: true,
          axisLabel: { interval: 0, width: 140, overflow: "truncate" },
        },
        series: data.series.map(function (s) {
          return { name: s.name, type: "bar", data: s.data, barMaxWidth: 10 };
        }),
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  function flash(message) {
    var box = document.getElementById("flash");
    if (!box) return;
    var div = document.createElement("div");
    div.className = "notice error";
    div.setAttribute("role", "alert");
    div.textContent = message;
    box.replaceChildren(div);
  }

  // On a phone the navigation is folded behind a button (console.css); it opens and closes.
  function initNavToggle() {
    var toggle = document.querySelector(".nav-toggle");
    var sidebar = toggle && toggle.closest(".sidebar");
    if (!sidebar) return;
    toggle.addEventListener("click", function () {
      var open = sidebar.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initNavToggle();
    initCharts(document);
    initBarCharts(document);
  });
  document.addEventListener("htmx:load", function (event) {
    initCharts(event.target);
    initBarCharts(event.target);
  });

  document.addEventListener("htmx:sendError", function () {
    flash(document.body.dataset.networkError || "Network error");
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    // Polling must not wipe a message the operator has not read yet.
    var box = document.getElementById("flash");
    if (box && event.target.id !== "runs") box.replaceChildren();
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = document.getElementById("upload-progress");
    if (!bar || !event.target.closest("#upload-form") || !event.detail.lengthComputable) return;
    bar.hidden = false;
    bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest && event.target.closest("#upload-form");
    if (!form) return;
    var bar = document.getElementById("upload-progress");
    if (bar) { bar.hidden = true; bar.value = 0; }
    if (event.detail.successful) form.reset();
  });
})();

// The menu editor: each button shows only the fields its type uses (without JavaScript,
// every field shows, and the form works the same).
(function () {
  "use strict";
  function showFields(select) {
    var box = select.closest(".menu-button-fields");
    if (!box) return;
    box.querySelectorAll("[data-for-types]").forEach(function (label) {
      var types = label.dataset.forTypes.split(" ");
      var hasError = label.querySelector(".field-error") !== null;
      label.hidden = !hasError && types.indexOf(select.value) === -1;
    });
  }
  function init(root) {
    root.querySelectorAll("select[data-menu-type]").forEach(showFields);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-menu-type]")) {
      showFields(event.target);
    }
  });
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
