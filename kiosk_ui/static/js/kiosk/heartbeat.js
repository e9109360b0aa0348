// Heartbeat and remote commands: every 30 s the kiosk reports itself; the answer carries
// commands from the admin console. Peripheral status comes from a local device agent when
// one is installed (window.kioskAgent.peripherals()); a plain browser reports none.

export function setupHeartbeat(body = document.body) {
  const url = body.dataset.heartbeatUrl;
  if (!url) return; // not an authorized kiosk (activation, waiting screens)
  const onMaintenance = body.classList.contains("page-maintenance");
  // Someone is using the kiosk: logged in (on any screen), or away from the home screen.
  const sessionActive = () => (body.dataset.session === "1" || !body.classList.contains("page-home"))
    && !onMaintenance;
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

/** The admin console's "显示提示消息": a full-screen message for ``seconds`` (≥ 5). */
export function showMessage(text, seconds) {
  const overlay = document.getElementById("message-overlay");
  document.getElementById("message-text").textContent = text;
  overlay.hidden = false;
  const close = () => { overlay.hidden = true; };
  document.getElementById("message-close").onclick = close;
  setTimeout(close, Math.max(5, Number(seconds) || 30) * 1000);
}
