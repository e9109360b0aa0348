// The on-screen keyboard of the search screen: topic chips put a whole word in the box,
// letter keys add pinyin initials, plus backspace and clear. Typing is the enemy (UX.md).

/** Wire ``keyboard`` (a container of buttons with data-word / data-key) to ``input``;
 *  ``onChange`` runs after every key. Containers elsewhere on the page that name the input
 *  in ``data-keyboard-for`` (the quick-word chips, laid out beside the results) type into it
 *  too. */
export function attachKeyboard(keyboard, input, onChange) {
  const parts = [keyboard, ...document.querySelectorAll(`[data-keyboard-for="${input.id}"]`)];
  for (const part of parts) {
    part.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      input.value = applyKey(input.value, button.dataset);
      onChange();
    });
    // Served disabled (a tap before this ran would be lost): usable from now on.
    for (const button of part.querySelectorAll("button[data-key], button[data-word]")) button.disabled = false;
  }
}

/** The box's new text after pressing a key described by ``{word}`` or ``{key}``. */
export function applyKey(value, { word, key }) {
  if (word) return word;
  if (key === "backspace") return value.slice(0, -1);
  if (key === "clear") return "";
  if (key) return value + key;
  return value;
}
