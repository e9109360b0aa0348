// Search as you type: results are rendered by the server (the same partial as the full
// page) and swapped in; the address follows the query so 返回 comes back to it. The partial
// carries everything the full page shows (did you mean, life-event groups, the nothing-found
// ways on) and one [data-status] element whose text goes into the aria-live status line.
import { attachKeyboard } from "./keyboard.js";

export function setupSearch() {
  const form = document.getElementById("search-form");
  if (!form) return;
  const input = document.getElementById("q");
  const box = document.getElementById("results-box");
  const status = document.getElementById("search-status");
  const statusTpl = document.getElementById("status-template").dataset;
  let controller = null;
  let timer = null;

  const run = async () => {
    const q = input.value.trim();
    const url = new URL(form.action, window.location.href);
    url.searchParams.set("q", q);
    history.replaceState(null, "", q ? url.pathname + url.search : url.pathname);
    if (!q) {
      box.replaceChildren();
      status.textContent = "";
      return;
    }
    url.searchParams.set("partial", "1");
    if (controller) controller.abort(); // only the latest query's answer is shown
    controller = new AbortController();
    status.textContent = statusTpl.loading;
    try {
      const response = await fetch(url, { signal: controller.signal, headers: { Accept: "text/html" } });
      if (!response.ok) throw new Error(String(response.status));
      const html = await response.text();
      const doc = new DOMParser().parseFromString(html, "text/html");
      box.replaceChildren(...doc.body.childNodes);
      const info = box.querySelector("[data-status]");
      status.textContent = info ? info.dataset.status : "";
    } catch (err) {
      if (err.name !== "AbortError") status.textContent = "";
    }
  };
  const schedule = () => { clearTimeout(timer); timer = setTimeout(run, 180); };

  // "Did you mean", the nearest words and life events (links with data-q in the results): a
  // tap puts their words in the box and searches at once, as a quick word does; the status
  // line, which the screen reader hears, comes into view with the new results. Without this
  // script they are plain links to the same search.
  box.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-q]");
    if (!link || !box.contains(link)) return;
    event.preventDefault();
    clearTimeout(timer);
    input.value = link.dataset.q;
    await run();
    status.scrollIntoView({ block: "nearest" });
  });
  input.addEventListener("input", schedule);
  // 搜索 runs now, and the run still scheduled by the last keystroke is dropped: it would show
  // 正在查找…… again over the answer just given.
  form.addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(timer); run(); });
  // A quick word tapped under a long list of results (portrait: the words come after the
  // results) brings the box back into view, where the new word and its results are.
  const typed = () => { schedule(); input.scrollIntoView({ block: "nearest" }); };
  attachKeyboard(document.getElementById("keyboard"), input, typed);
}
