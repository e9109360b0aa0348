// CJK font check for the activation screen. A kiosk browser without a Chinese font shows
// every Chinese character as an empty box; the installer must see that before the kiosk
// goes into service, in words they can read (the warning carries English too).
//
// How: draw a common character (办) and a character no font has a glyph for (a code point
// of Supplementary Private Use Area-A) in the page's own font stack. If both come out the
// same — same advance width and same pixels — the browser fell back to the "missing glyph"
// box for both, so Chinese cannot be displayed.

/** A code point that no font maps: what "no glyph" looks like in this browser. */
export const NO_GLYPH = String.fromCodePoint(0xf0000);
/** A common character of service names (办事, 办理). */
export const SAMPLE = "办";

const SIZE = 48;

function pageFont() {
  return getComputedStyle(document.body).fontFamily || "sans-serif";
}

function draw(ch, font) {
  const canvas = document.createElement("canvas");
  canvas.width = SIZE * 2;
  canvas.height = SIZE * 2;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.font = `${SIZE}px ${font}`;
  ctx.textBaseline = "middle";
  ctx.fillStyle = "#000";
  ctx.fillText(ch, SIZE / 2, SIZE);
  return { width: ctx.measureText(ch).width, pixels: ctx.getImageData(0, 0, canvas.width, canvas.height).data };
}

function samePixels(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * "present" if ``ch`` has a glyph in ``font`` (default: the page's font stack, with the
 * browser's own fallback), "missing" if it renders like a character that has none.
 */
export function glyphStatus(ch = SAMPLE, { font = pageFont(), reference = NO_GLYPH } = {}) {
  const probe = draw(ch, font);
  const none = draw(reference, font);
  const missing = Math.abs(probe.width - none.width) < 0.01 && samePixels(probe.pixels, none.pixels);
  return missing ? "missing" : "present";
}

/**
 * Show the #font-warning block of the page when ``sample`` cannot be displayed. Returns the
 * status ("present" / "missing"), or null on pages without the warning block. The status is
 * also left on <body data-cjk-font> for anyone checking a kiosk remotely.
 */
export function setupFontCheck(sample = SAMPLE) {
  const warning = document.getElementById("font-warning");
  if (!warning) return null;
  const status = glyphStatus(sample);
  warning.hidden = status !== "missing";
  document.body.dataset.cjkFont = status;
  return status;
}
