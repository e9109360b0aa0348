// Search as you type: results are rendered by the server (the same partial as the full
// page) and swapped in; the address follows the query so 返回 comes back to it.
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

  input.addEventListener("input", schedule);
  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  attachKeyboard(document.getElementById("keyboard"), input, schedule);
}
