// Kiosk behaviour: idle countdown, backend reachability, search-as-you-type with the
// on-screen keyboard, silent printing. Plain ES module, no build step, no dependencies.

const body = document.body;
const HOME = body.dataset.homeUrl;

// ------------------------------------------------------------------ idle timer
// After the idle time a full-screen countdown (≥ 20 s) offers one big "继续办理" button;
// when it runs out the kiosk goes home. The button can be used any number of times.
function setupIdle() {
  if (body.dataset.idleActive !== "1") return;
  const idleMs = Math.max(5, Number(body.dataset.idleSeconds || 120)) * 1000;
  const warnSeconds = Math.max(20, Number(body.dataset.idleWarning || 25));
  const overlay = document.getElementById("idle-overlay");
  const countEl = document.getElementById("idle-count");
  const bodyEl = document.getElementById("idle-body");
  const button = document.getElementById("idle-continue");
  let idleTimer = null;
  let tick = null;
  let remaining = warnSeconds;

  const render = () => {
    countEl.textContent = String(remaining);
    bodyEl.textContent = bodyEl.dataset.template.replace("{seconds}", String(remaining));
  };
  const goHome = () => {
    // Nothing personal stays behind: forget form state and history entries of this visit.
    sessionStorage.clear();
    localStorage.clear();
    window.location.replace(HOME);
  };
  const showWarning = () => {
    remaining = warnSeconds;
    render();
    overlay.hidden = false;
    button.focus();
    tick = setInterval(() => {
      remaining -= 1;
      if (remaining <= 0) {
        clearInterval(tick);
        goHome();
        return;
      }
      render();
    }, 1000);
  };
  const reset = () => {
    if (!overlay.hidden) return; // only the button dismisses the warning
    clearTimeout(idleTimer);
    idleTimer = setTimeout(showWarning, idleMs);
  };
  button.addEventListener("click", () => {
    clearInterval(tick);
    overlay.hidden = true;
    reset();
  });
  for (const type of ["pointerdown", "keydown", "scroll", "input"]) {
    document.addEventListener(type, reset, { passive: true, capture: true });
  }
  reset();
}

// ------------------------------------------------------------------ reachability
// If the backend stops answering, say so plainly and send people to the counter.
function setupReachability() {
  const overlay = document.getElementById("offline-overlay");
  const retry = document.getElementById("offline-retry");
  const url = body.dataset.pingUrl;
  let failures = 0;
  const check = async () => {
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      failures = 0;
      overlay.hidden = true;
    } catch (err) {
      failures += 1;
      if (failures >= 2) overlay.hidden = false;
    }
  };
  retry.addEventListener("click", () => { failures = 1; check(); });
  setInterval(check, 15000);
  window.addEventListener("online", check);
  window.addEventListener("offline", () => { overlay.hidden = false; });
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(body.dataset.swUrl, { scope: HOME }).catch(() => {});
  }
}

// ------------------------------------------------------------------ search
function setupSearch() {
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
    if (controller) controller.abort();
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
  document.getElementById("keyboard").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.word) {
      input.value = button.dataset.word;
    } else if (button.dataset.key === "backspace") {
      input.value = input.value.slice(0, -1);
    } else if (button.dataset.key === "clear") {
      input.value = "";
    } else if (button.dataset.key) {
      input.value += button.dataset.key;
    }
    schedule();
  });
}

// ------------------------------------------------------------------ printing
function setupPrint() {
  const img = document.getElementById("printout");
  if (!img) return;
  const print = () => window.print();
  if (img.complete) setTimeout(print, 300); else img.addEventListener("load", () => setTimeout(print, 300), { once: true });
  document.getElementById("print-again").addEventListener("click", print);
}

// ------------------------------------------------------------------ back
// 返回 goes back in history when the previous page was a kiosk page (so a resident
// returns to their search results); otherwise the link's own target is used.
function setupBack() {
  const back = document.getElementById("nav-back");
  if (!back) return;
  back.addEventListener("click", (event) => {
    const kioskPage = document.referrer.startsWith(window.location.origin + "/kiosk");
    if (kioskPage && window.history.length > 1 && document.referrer !== window.location.href) {
      event.preventDefault();
      window.history.back();
    }
  });
}

// ------------------------------------------------------------------ heartbeat and commands
// Every 30 s the kiosk reports itself; the answer carries commands from the admin console.
// Peripheral status comes from a local device agent when one is installed
// (window.kioskAgent.peripherals()); a plain browser reports none.
function setupHeartbeat() {
  const url = body.dataset.heartbeatUrl;
  if (!url) return;
  const onMaintenance = body.classList.contains("page-maintenance");
  const sessionActive = () => !body.classList.contains("page-home") && !onMaintenance;
  const post = (target, payload) => fetch(target, {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload || {}),
  });
  const ackUrl = (id) => body.dataset.ackUrl.replace("/0/", `/${id}/`);
  const run = async (command) => {
    await post(ackUrl(command.id));
    if (command.kind === "show_message") {
      showMessage(command.payload.text, command.payload.seconds);
    } else {
      window.location.reload(); // reload, maintenance on/off, new settings: the server renders the result
    }
  };
  const beat = async () => {
    let next = 30;
    try {
      let peripherals = {};
      if (window.kioskAgent && typeof window.kioskAgent.peripherals === "function") {
        peripherals = await window.kioskAgent.peripherals();
      }
      const response = await post(url, {
        seq: Date.now(), app_version: body.dataset.appVersion, profile: body.dataset.profile,
        peripherals, session_active: sessionActive(),
      });
      if (response.ok) {
        const answer = await response.json();
        next = answer.interval || 30;
        if (answer.rotate_credential) await post(body.dataset.credentialUrl);
        if (answer.maintenance !== onMaintenance) { window.location.reload(); return; }
        for (const command of answer.commands) await run(command);
      } else if (response.status === 401 || response.status === 403) {
        window.location.reload(); // revoked or no longer authorized: the gate shows why
        return;
      }
    } catch (err) {
      next = 15; // the reachability check shows the offline notice; try again sooner
    }
    setTimeout(beat, next * 1000);
  };
  setTimeout(beat, 1000);
}

function showMessage(text, seconds) {
  const overlay = document.getElementById("message-overlay");
  document.getElementById("message-text").textContent = text;
  overlay.hidden = false;
  const close = () => { overlay.hidden = true; };
  document.getElementById("message-close").onclick = close;
  setTimeout(close, Math.max(5, Number(seconds) || 30) * 1000);
}

// Pages that wait for something (authorization, end of maintenance) look again now and then.
function setupSelfReload() {
  const holder = document.querySelector("[data-reload-seconds]");
  if (holder) setTimeout(() => window.location.reload(), Number(holder.dataset.reloadSeconds) * 1000);
}

setupIdle();
setupBack();
setupHeartbeat();
setupSelfReload();
setupReachability();
setupSearch();
setupPrint();
