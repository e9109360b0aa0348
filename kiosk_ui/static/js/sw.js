// Service worker for kiosk pages: when the backend cannot be reached, show the plain
// "please go to the counter" page instead of the browser's error page.
// Its name is also in kiosk/offline.js (SHELL_CACHE), which refreshes the offline page in it
// when the kiosk's number, font scale or language changes.
const CACHE = "kiosk-shell-v3";
const OFFLINE_URL = "/kiosk/offline";
// The offline page loads the kiosk stylesheet, its icons and the kiosk JS modules (main.js
// imports the others statically, so every one of them must be here or the page's script
// fails to load offline). Keep this list in step with kiosk_ui/static/js/kiosk/.
const MODULES = ["main", "attract", "courier", "fontcheck", "heartbeat", "idle", "keyboard", "nav", "offline", "print", "progress", "qrlogin", "search"]
  .map((name) => `/static/js/kiosk/${name}.js`);
const SHELL = [OFFLINE_URL, "/static/css/kiosk.css", ...MODULES, "/static/icons/helper.svg", "/static/icons/emblem.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.mode === "navigate") {
    // Pages are never cached (they may carry personal data): network, or the offline page.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL)));
    return;
  }
  const url = new URL(request.url);
  if (SHELL.includes(url.pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(url.pathname)));
  }
});
