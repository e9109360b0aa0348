// Print screen: the printout is an image rendered server-side for the kiosk's paper. Once it
// has loaded, the screen asks the server for a print job (which refuses a second print of the
// same guide from this kiosk within a few seconds: a double tap) and prints silently only
// when the job is accepted (kiosk-mode Chromium runs with --kiosk-printing). The screen says
// what really happened: printing, printed a moment ago, or not printed (with the QR code).

export function setupPrint() {
  const img = document.getElementById("printout");
  const status = document.getElementById("print-status");
  if (!img || !status) return;
  const again = document.getElementById("print-again");
  const title = document.getElementById("print-title");
  const message = document.getElementById("print-message");
  const qr = document.getElementById("print-qr");
  const texts = document.getElementById("print-texts").dataset;
  const guardMs = Math.max(1, Number(status.dataset.guardSeconds || 3)) * 1000;
  let busy = false;

  const show = (state) => {
    status.dataset.state = state;
    title.textContent = texts[`${state}Title`];
    message.textContent = texts[state];
    qr.hidden = state !== "failed";
  };
  const ask = async () => {
    try {
      const response = await fetch(status.dataset.jobUrl, {
        method: "POST", credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (response.status === 202) return "printing";
      if (response.status === 409) return "duplicate";
    } catch (err) {
      // the network or the backend is gone: not printed
    }
    return "failed";
  };
  const printOnce = async () => {
    if (busy) return; // a second tap while a print is under way does nothing
    busy = true;
    again.disabled = true;
    const outcome = await ask();
    show(outcome);
    if (outcome === "printing") window.print();
    // The button comes back once a new print would be accepted, not before.
    setTimeout(() => { busy = false; again.disabled = false; }, outcome === "failed" ? 0 : guardMs);
  };
  const failed = () => { show("failed"); again.disabled = false; };

  again.addEventListener("click", printOnce);
  if (img.complete) {
    if (img.naturalWidth > 0) setTimeout(printOnce, 300);
    else failed();
  } else {
    img.addEventListener("load", () => setTimeout(printOnce, 300), { once: true });
    img.addEventListener("error", failed, { once: true });
  }
}
