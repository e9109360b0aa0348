// Backend reachability: if the backend stops answering, say so plainly and send people to
// the counter. The service worker (/kiosk/sw.js) serves the offline page when a navigation
// fails; that page keeps looking for the server and, when it answers, opens again the page
// the resident was going to (or home).

// The service worker's cache (sw.js CACHE): this module refreshes the offline page in it.
export const SHELL_CACHE = "kiosk-shell-v3";
const CHECK_MS = 15000;
const OFFLINE_CHECK_MS = 5000;

export function setupOffline(body = document.body) {
  const url = body.dataset.pingUrl;
  if (!url) return;
  if (body.classList.contains("page-offline")) {
    recoverWhenBack(body);
    return;
  }
  const overlay = document.getElementById("offline-overlay");
  const retry = document.getElementById("offline-retry");
  let failures = 0;
  const check = async () => {
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      failures = 0;
      overlay.hidden = true;
    } catch (err) {
      failures += 1;
      if (failures >= 2) overlay.hidden = false; // one lost ping is not an outage
    }
  };
  retry.addEventListener("click", () => { failures = 1; check(); });
  setInterval(check, CHECK_MS);
  window.addEventListener("online", check);
  window.addEventListener("offline", () => { overlay.hidden = false; });
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(body.dataset.swUrl, { scope: body.dataset.homeUrl }).catch(() => {});
    keepOfflineCopyCurrent(body).catch(() => {});
  }
}

/** The offline page's address: /kiosk/offline, beside the kiosk's home. */
export function offlineUrl(body = document.body) {
  return new URL("offline", new URL(body.dataset.homeUrl, window.location.href)).pathname;
}

/** On the offline page: ping every few seconds; once the server answers, load the page the
 *  resident was on again (the service worker showed this page at its address), or home when
 *  this is the offline page's own address. */
export function recoverWhenBack(body = document.body) {
  const overlay = document.getElementById("offline-overlay");
  if (overlay) overlay.hidden = true; // this page already says it
  const back = () => {
    if (window.location.pathname === offlineUrl(body)) window.location.replace(body.dataset.homeUrl);
    else window.location.reload();
  };
  const check = async () => {
    try {
      const response = await fetch(body.dataset.pingUrl, { cache: "no-store" });
      if (response.ok) { back(); return; }
    } catch (err) {
      // still offline
    }
    setTimeout(check, OFFLINE_CHECK_MS);
  };
  setTimeout(check, OFFLINE_CHECK_MS);
  window.addEventListener("online", check);
  const again = document.getElementById("offline-again");
  if (again) again.addEventListener("click", (event) => { event.preventDefault(); check(); });
}

// What of a page the offline copy must match: language, font scale, elder mode, kiosk number.
function shellOf(doc) {
  const classes = [...doc.body.classList].filter((c) => /^fs-\d+$/.test(c) || c === "elder" || c.startsWith("orientation-"));
  const number = doc.querySelector(".kiosk-number");
  return [doc.documentElement.lang, classes.sort().join(" "), number ? number.textContent.trim() : ""].join("|");
}

/** Keep the service worker's copy of the offline page like this page (the kiosk number,
 *  the profile's font scale, the language on screen): fetch it again only when it differs. */
export async function keepOfflineCopyCurrent(body = document.body) {
  if (!("caches" in window) || !navigator.serviceWorker.controller) return;
  const address = offlineUrl(body);
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(address);
  if (cached) {
    const copy = new DOMParser().parseFromString(await cached.text(), "text/html");
    if (shellOf(copy) === shellOf(document)) return;
  }
  await cache.add(address);
}
