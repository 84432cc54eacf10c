/** Tiny DOM helpers: elements are built with textContent only, so names can never inject markup. */

export const byId = (id) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`panel markup lacks #${id}`);
  return element;
};

/** h('li', { className: 'row', dataset: { key } }, child, 'text', ...) */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key === 'className') element.className = value;
    else if (key.startsWith('on')) element.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key in element && typeof value !== 'string') element[key] = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/**
 * Replaces a list's rows, keeping keyboard focus on the same control of the same row (rows and
 * controls carry data-key / data-control), so live updates never throw a keyboard user out.
 */
export function replaceRows(list, rows) {
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const rowKey = focused?.closest('[data-key]')?.dataset.key;
  const control = focused?.dataset.control;
  list.replaceChildren(...rows);
  if (rowKey && control) {
    const again = [...list.querySelectorAll('[data-key]')]
      .find((row) => row.dataset.key === rowKey)
      ?.querySelector(`[data-control="${control}"]`);
    if (again && !again.disabled) again.focus();
  }
}
