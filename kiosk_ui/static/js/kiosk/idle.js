// Idle timer: after the idle time a full-screen countdown (≥ 20 s) offers one big "继续办理"
// button; when it runs out the kiosk forgets this visit and goes home. The button can be
// used any number of times.

/** The end-of-visit address: /kiosk/reset, beside the kiosk's home (/kiosk/). */
export function resetUrl(body = document.body) {
  return body.dataset.resetUrl || new URL("reset", new URL(body.dataset.homeUrl, window.location.href)).pathname;
}

export function setupIdle(body = document.body) {
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
    // Nothing personal stays behind: forget form state and history entries of this visit,
    // and what the resident chose (language, elder mode: the server forgets those cookies
    // at /kiosk/reset, then sends the browser home in the kiosk's defaults).
    sessionStorage.clear();
    localStorage.clear();
    window.location.replace(resetUrl(body));
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
