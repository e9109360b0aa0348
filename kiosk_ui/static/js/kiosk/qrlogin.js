// 扫码登录 (kiosk/login.html): count down the code's life, ask the server whether the code was
// scanned or confirmed, and show a new code before this one expires.
//
// The poll sends the ETag it last saw (If-None-Match) and gets 304 while nothing changed: a
// few bytes every poll_ms (500 ms). One request at a time: the next is scheduled when the
// last has answered, so a slow server is never asked twice at once. When the resident
// confirms on the phone the answer is {"state": "consumed", "next": …} with the session's
// cookie already set, and the screen goes there.

const AFTER_DENIAL_MS = 4000;

export function setupQrLogin(doc = document, win = window) {
  const holder = doc.getElementById("qr-login");
  if (!holder) return null;
  const pollUrl = holder.dataset.pollUrl;
  const pollMs = Math.max(200, Number(holder.dataset.pollMs) || 500);
  const refreshUrl = holder.dataset.refreshUrl;
  const status = doc.getElementById("qr-status");
  const countdown = doc.getElementById("qr-countdown");
  const started = Date.now();
  const expiresIn = Number(holder.dataset.expiresIn) || 120;
  const refreshAfter = Number(holder.dataset.refreshAfter) || expiresIn - 15;
  let etag = null;
  let done = false;

  const refresh = () => {
    if (done) return;
    done = true;
    win.location.replace(refreshUrl);
  };

  const tick = () => {
    if (done) return;
    const elapsed = (Date.now() - started) / 1000;
    if (elapsed >= refreshAfter) {
      refresh();
      return;
    }
    const left = Math.max(0, Math.ceil(refreshAfter - elapsed));
    if (countdown) countdown.textContent = countdown.dataset.template.replace("{seconds}", String(left));
    win.setTimeout(tick, 1000);
  };

  const show = (text) => {
    if (status && status.textContent !== text) status.textContent = text;
  };

  const handle = (body) => {
    switch (body.state) {
      case "scanned":
        show(holder.dataset.scanned);
        return true;
      case "consumed":
        done = true;
        show(holder.dataset.done);
        if (body.next) win.location.assign(body.next);
        return false;
      case "denied":
        show(holder.dataset.denied);
        win.setTimeout(refresh, AFTER_DENIAL_MS);
        return false;
      case "expired":
      case "unknown":
        refresh();
        return false;
      default:
        return true; // pending
    }
  };

  const poll = async () => {
    if (done) return;
    let again = true;
    try {
      const headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const response = await win.fetch(pollUrl, { headers, credentials: "same-origin", cache: "no-store" });
      if (response.status === 200 || response.status === 404) {
        etag = response.headers.get("ETag") || etag;
        again = handle(await response.json());
      }
    } catch (error) {
      // The network is down for a moment: offline.js says so; keep asking.
    }
    if (again && !done) win.setTimeout(poll, pollMs);
  };

  win.setTimeout(tick, 1000);
  win.setTimeout(poll, pollMs);
  return { poll, refresh };
}
