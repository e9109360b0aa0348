// Idle timer and the kiosk session's screen side.
//
// After the idle time a full-screen countdown (≥ 20 s) offers one big "继续办理" button; when
// it runs out the kiosk forgets this visit and goes home (/kiosk/reset). The button can be
// used any number of times.
//
// While someone is logged in (body data-session="1", identity/kiosk.py):
// - every press of 继续办理 asks the server to extend the session (POST /kiosk/session/extend),
//   and so does a touch when the server has not heard from this screen for a while
//   (data-keepalive-seconds): the server's idle time (longer than this countdown) then
//   follows the person, not the page loads; the countdown itself never extends anything;
// - the absolute limit (data-session-ends-in) brings the countdown up with "本次登录即将结束"
//   and no 继续办理, a little before the server's own end;
// - the end (countdown, limit, 退出) wipes the page and the browser's storage before
//   leaving; /kiosk/reset then ends the session on the server with the reason given.
// The staff login screen's on-screen keyboard is here too (it types into the field touched last).
import { applyKey } from "./keyboard.js";

// The screen ends an absolutely limited session this long before the server would.
const END_MARGIN_S = 3;

/** The end-of-visit address: /kiosk/reset, beside the kiosk's home (/kiosk/); ``end`` says
 *  why a session ends there ("idle" or "expired"). */
export function resetUrl(body = document.body, end = "") {
  const url = body.dataset.resetUrl || new URL("reset", new URL(body.dataset.homeUrl, window.location.href)).pathname;
  return end ? `${url}?end=${end}` : url;
}

/** Nothing personal stays behind: the browser's storage, and (logged in) the page itself. */
export function wipe(body = document.body) {
  sessionStorage.clear();
  localStorage.clear();
  if (body.dataset.session === "1") {
    for (const part of document.querySelectorAll("main, .session-who")) part.replaceChildren();
  }
}

export function setupIdle(body = document.body) {
  setupStaffKeyboard();
  if (body.dataset.idleActive !== "1") return;
  const loggedIn = body.dataset.session === "1";
  const idleMs = Math.max(5, Number(body.dataset.idleSeconds || 120)) * 1000;
  const warnSeconds = Math.max(20, Number(body.dataset.idleWarning || 25));
  const keepaliveMs = Math.max(1, Number(body.dataset.keepaliveSeconds || 10)) * 1000;
  const overlay = document.getElementById("idle-overlay");
  const countEl = document.getElementById("idle-count");
  const titleEl = document.getElementById("idle-title");
  const bodyEl = document.getElementById("idle-body");
  const button = document.getElementById("idle-continue");
  const idleTitle = titleEl.textContent;
  let idleTimer = null;
  let tick = null;
  let remaining = warnSeconds;
  let ending = false; // the absolute limit's countdown: nothing dismisses it
  let leaving = false;
  let lastContact = Date.now(); // this page's request reached the server

  const render = () => {
    countEl.textContent = String(remaining);
    const template = ending ? bodyEl.dataset.ending : bodyEl.dataset.template;
    bodyEl.textContent = template.replace("{seconds}", String(remaining));
  };
  const goHome = (end) => {
    if (leaving) return;
    leaving = true;
    // Also forgets what the resident chose (language, elder mode: the server deletes those
    // cookies at /kiosk/reset, then sends the browser home in the kiosk's defaults).
    wipe(body);
    window.location.replace(resetUrl(body, loggedIn ? end : ""));
  };
  const extend = async () => {
    if (!loggedIn || leaving) return;
    lastContact = Date.now();
    try {
      const response = await fetch(body.dataset.extendUrl, {
        method: "POST", credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const answer = await response.json();
      if (!answer.live) goHome("idle"); // the server has ended it: nothing left to continue
    } catch (err) {
      // Offline: the countdown still runs here, and the server ends the session on its own.
    }
  };
  const showWarning = (seconds, isEnding) => {
    if (leaving || (ending && !isEnding)) return;
    ending = isEnding;
    remaining = seconds;
    overlay.classList.toggle("ending", ending);
    titleEl.textContent = ending ? titleEl.dataset.ending : idleTitle;
    render();
    overlay.hidden = false;
    if (!ending) button.focus();
    clearInterval(tick);
    tick = setInterval(() => {
      remaining -= 1;
      if (remaining <= 0) {
        clearInterval(tick);
        goHome(ending ? "expired" : "idle");
        return;
      }
      render();
    }, 1000);
  };
  const reset = () => {
    if (!overlay.hidden) return; // only the button dismisses the warning
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => showWarning(warnSeconds, false), idleMs);
    if (loggedIn && Date.now() - lastContact >= keepaliveMs) extend();
  };
  button.addEventListener("click", () => {
    if (ending) return;
    clearInterval(tick);
    overlay.hidden = true;
    lastContact = 0; // 继续办理 always tells the server
    reset();
  });
  for (const type of ["pointerdown", "keydown", "scroll", "input"]) {
    document.addEventListener(type, reset, { passive: true, capture: true });
  }
  if (loggedIn) {
    const logout = document.getElementById("logout-form");
    if (logout) logout.addEventListener("submit", () => { leaving = true; wipe(body); });
    const endsIn = Number(body.dataset.sessionEndsIn);
    if (Number.isFinite(endsIn)) {
      const endAt = Date.now() + Math.max(1, endsIn - END_MARGIN_S) * 1000;
      setTimeout(() => {
        clearTimeout(idleTimer);
        showWarning(Math.max(1, Math.round((endAt - Date.now()) / 1000)), true);
      }, Math.max(0, endAt - warnSeconds * 1000 - Date.now()));
    }
  }
  reset();
}

/** The staff login screen: the keys type into the field touched last (user name first). */
export function setupStaffKeyboard() {
  const keyboard = document.getElementById("staff-keyboard");
  if (!keyboard) return;
  const fields = [...document.querySelectorAll("#staff-login-form input")];
  const capsKey = document.getElementById("staff-caps");
  let target = fields[0];
  let caps = false;
  const mark = () => fields.forEach((field) => field.classList.toggle("is-target", field === target));
  for (const field of fields) field.addEventListener("focus", () => { target = field; mark(); });
  mark();
  const letters = [...keyboard.querySelectorAll("button[data-key]")].filter((key) => /^[a-z]$/.test(key.dataset.key));
  capsKey.addEventListener("click", () => {
    caps = !caps;
    capsKey.setAttribute("aria-pressed", String(caps));
    for (const key of letters) key.textContent = caps ? key.dataset.key.toUpperCase() : key.dataset.key;
  });
  keyboard.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-key]");
    if (!button) return;
    const key = caps && /^[a-z]$/.test(button.dataset.key) ? button.dataset.key.toUpperCase() : button.dataset.key;
    target.value = applyKey(target.value, { key });
  });
}
