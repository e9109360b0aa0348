// Usage charts for the admin console, drawn with the vendored uPlot from /usage.json.
// Every word comes from the message catalogue through the chart's data attributes
// (the usage_chart macro in admin/_status.html), so the console follows its language.
function drawUsage(box) {
  const labels = JSON.parse(box.dataset.labels || "{}");
  fetch(box.dataset.usageUrl, { credentials: "same-origin" })
    .then((response) => response.json())
    .then((data) => {
      const xs = data.dates.map((d) => Date.parse(d + "T00:00:00+08:00") / 1000);
      const width = Math.max(320, box.clientWidth);
      // One tick per day, counted back from the last day so that today always has its
      // label (uPlot's own ticks may stop a day short), thinned to fit the width.
      const monthDay = (iso) => { const [, month, day] = iso.split("-"); return `${Number(month)}/${Number(day)}`; };
      const dayLabel = new Map(data.dates.map((d, i) => [xs[i], monthDay(d)]));
      const step = Math.max(1, Math.ceil(xs.length / Math.max(2, Math.floor(width / 56))));
      const ticks = xs.filter((_, i) => (xs.length - 1 - i) % step === 0);
      const halfDay = 12 * 3600;
      const opts = {
        width, height: 240,
        // Half a day of room on either side, so the first and last labels are not cut off.
        // Counts from zero, with a little head room (no 0–100 axis for a quiet fortnight).
        scales: {
          x: { time: true, range: (u, min, max) => [min - halfDay, max + halfDay] },
          y: { range: (u, min, max) => [0, Math.max(4, Math.ceil((max || 0) * 1.1))] },
        },
        series: [
          { label: labels.date },
          { label: labels.session, stroke: "#0a4aa6", width: 2 },
          { label: labels.search, stroke: "#1b6e2a", width: 2, dash: [6, 4] },
          { label: labels.print, stroke: "#9b1c1c", width: 2, dash: [2, 3] },
        ],
        axes: [
          { splits: () => ticks, values: (u, splits) => splits.map((x) => dayLabel.get(x) || "") },
          // Counts are whole numbers: no 0.5 ticks.
          { label: labels.count, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] },
        ],
      };
      // eslint-disable-next-line no-undef
      new uPlot(opts, [xs, data.session, data.search, data.print], box);
      // The figures in words for screen readers: the chart itself is a picture.
      box.setAttribute("aria-label", box.dataset.summary
        .replace("{session}", String(sum(data.session)))
        .replace("{search}", String(sum(data.search)))
        .replace("{print}", String(sum(data.print))));
    })
    .catch(() => { box.textContent = box.dataset.failed; });
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

window.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-usage-url]").forEach(drawUsage);
});
