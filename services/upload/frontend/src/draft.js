// A form's typed details kept in this browser (localStorage, per producer), so a reload or a
// closed tab does not lose them. Files cannot be kept by a page; their uploads resume instead.

const SAVE_DELAY_MS = 300;

export class Draft {
  constructor(producerId, name) {
    this.key = `beatpass.draft:${producerId}:${name}`;
    this.timer = null;
  }

  load() {
    try {
      const value = JSON.parse(localStorage.getItem(this.key) || "null");
      return value && typeof value === "object" ? value : null;
    } catch {
      return null;
    }
  }

  /** Keep `read()` soon (typing is not written on every key press). */
  save(read) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const value = read();
      try {
        if (value) localStorage.setItem(this.key, JSON.stringify(value));
        else localStorage.removeItem(this.key);
      } catch {
        // storage full or disabled: the form still works, only the draft is not kept
      }
    }, SAVE_DELAY_MS);
  }

  clear() {
    clearTimeout(this.timer);
    localStorage.removeItem(this.key);
  }
}
