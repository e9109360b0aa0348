// Usage charts for the admin console, drawn with the vendored uPlot from /usage.json.
function drawUsage(box) {
  fetch(box.dataset.usageUrl, { credentials: "same-origin" })
    .then((response) => response.json())
    .then((data) => {
      const xs = data.dates.map((d) => Date.parse(d + "T00:00:00+08:00") / 1000);
      const width = Math.max(320, box.clientWidth);
      const opts = {
        width, height: 240,
        scales: { x: { time: true } },
        series: [
          { label: "日期" },
          { label: "会话", stroke: "#0a4aa6", width: 2 },
          { label: "搜索", stroke: "#1b6e2a", width: 2, dash: [6, 4] },
          { label: "打印", stroke: "#9b1c1c", width: 2, dash: [2, 3] },
        ],
        axes: [{}, { label: "次数" }],
      };
      // eslint-disable-next-line no-undef
      new uPlot(opts, [xs, data.session, data.search, data.print], box);
      box.setAttribute("aria-label", `${box.getAttribute("aria-label")}：会话 ${sum(data.session)}，搜索 ${sum(data.search)}，打印 ${sum(data.print)}`);
    })
    .catch(() => { box.textContent = "统计数据暂时无法加载。"; });
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

window.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-usage-url]").forEach(drawUsage);
});
