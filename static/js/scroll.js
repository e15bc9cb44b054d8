// The thread's scrolling: it follows a reply as it grows while the person is at the
// bottom, stays put once they scroll up (by any amount), and offers a button back down.

const NEAR = 8; // px from the bottom that count as "at the bottom"
const JUMP = 40; // px away from the bottom before the button shows

export class Scroller {
  constructor(element, content, jumpButton) {
    this.element = element;
    this.jumpButton = jumpButton;
    this.following = true;
    this.lastTop = element.scrollTop;
    element.addEventListener("scroll", () => this.scrolled(), { passive: true });
    jumpButton.addEventListener("click", () => {
      this.toEnd();
      document.getElementById("prompt")?.focus({ preventScroll: true });
    });
    // Any change of the thread's height (a word, a re-render, a new message) keeps the
    // view at the bottom if it was there.
    new ResizeObserver(() => this.grew()).observe(content);
  }

  distance() {
    const { scrollHeight, scrollTop, clientHeight } = this.element;
    return scrollHeight - scrollTop - clientHeight;
  }

  scrolled() {
    const top = this.element.scrollTop;
    const distance = this.distance();
    // Moving up by the person's hand (a clamp after the content shrank keeps distance 0).
    if (top < this.lastTop && distance > NEAR) this.following = false;
    if (distance <= NEAR) this.following = true;
    this.lastTop = top;
    this.jumpButton.hidden = distance < JUMP;
  }

  grew() {
    if (this.following) this.toEnd();
    else this.jumpButton.hidden = this.distance() < JUMP;
  }

  toEnd() {
    this.following = true;
    this.element.scrollTop = this.element.scrollHeight;
    this.lastTop = this.element.scrollTop;
    this.jumpButton.hidden = true;
  }
}
