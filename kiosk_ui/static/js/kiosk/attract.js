// Attract screen (device profiles with ui.attract_screen): when nobody has touched the home
// screen for the kiosk's idle time — typically right after the idle countdown has reset a
// visit — a calm full-screen loop says what the kiosk can do and "轻触屏幕开始". Any touch
// or key puts the home screen back and the wait starts again.
//
// It runs only on a home screen without an idle countdown of its own (body
// data-idle-active="0"): while a visit is still open the countdown in idle.js decides, and
// its reset lands on a fresh home screen where this starts. It never touches idle.js's
// overlay or timers.

const STEP_MS = 5000; // each thing the kiosk can do stays on screen this long

export function setupAttract(body = document.body) {
  const attract = document.getElementById("attract");
  if (!attract || body.dataset.idleActive === "1") return null;
  const waitMs = Math.max(5, Number(attract.dataset.attractSeconds || 120)) * 1000;
  const items = [...attract.querySelectorAll(".attract-item")];
  const still = window.matchMedia("(prefers-reduced-motion: reduce)");
  let waitTimer = null;
  let loopTimer = null;
  let current = 0;

  const showItem = (index) => {
    items.forEach((item, i) => item.classList.toggle("is-current", i === index));
    current = index;
  };
  const startLoop = () => {
    clearInterval(loopTimer);
    showItem(0);
    // Reduced motion: everything at once and nothing moves (the stylesheet lists the items).
    if (still.matches || items.length < 2) return;
    loopTimer = setInterval(() => showItem((current + 1) % items.length), STEP_MS);
  };
  const wait = () => {
    clearTimeout(waitTimer);
    waitTimer = setTimeout(show, waitMs);
  };
  const idleOverlayOpen = () => {
    const idle = document.getElementById("idle-overlay");
    return idle && !idle.hidden;
  };
  function show() {
    if (idleOverlayOpen()) { wait(); return; }
    attract.hidden = false;
    body.classList.add("attract-on");
    startLoop();
    attract.focus();
  }
  const dismiss = (event) => {
    if (attract.hidden) return;
    // The touch only wakes the kiosk: it must not also press whatever is under the finger.
    event.preventDefault();
    event.stopPropagation();
    clearInterval(loopTimer);
    attract.hidden = true;
    body.classList.remove("attract-on");
    document.getElementById("main").focus();
    wait();
  };
  attract.addEventListener("click", dismiss);
  attract.addEventListener("keydown", dismiss);
  // Any activity on the home screen postpones the attract screen.
  for (const type of ["pointerdown", "keydown", "scroll", "input"]) {
    document.addEventListener(type, () => { if (attract.hidden) wait(); }, { passive: true, capture: true });
  }
  still.addEventListener("change", () => { if (!attract.hidden) startLoop(); });
  wait();
  return { show, dismiss: () => attract.click() };
}
