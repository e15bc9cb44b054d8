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
    // Only the person's hand stops the following: a wheel, a touch, a key, the scrollbar.
    // (The layout moves the view too: the message box shrinking after a send, a re-render.)
    this.handAt = -Infinity;
    const hand = () => (this.handAt = performance.now());
    for (const kind of ["wheel", "touchmove", "pointerdown", "keydown"]) {
      element.addEventListener(kind, hand, { passive: true });
    }
    element.addEventListener("scroll", () => this.scrolled(), { passive: true });
    jumpButton.addEventListener("click", () => {
      this.toEnd();
      document.getElementById("prompt")?.focus({ preventScroll: true });
    });
    // Any change of the thread's height (a word, a re-render, a new message), or of the
    // view's own (the message box growing or shrinking), keeps the view at the bottom if
    // it was there.
    const observer = new ResizeObserver(() => this.grew());
    observer.observe(content);
    observer.observe(element);
  }

  distance() {
    const { scrollHeight, scrollTop, clientHeight } = this.element;
    return scrollHeight - scrollTop - clientHeight;
  }

  scrolled() {
    const top = this.element.scrollTop;
    const distance = this.distance();
    const byHand = performance.now() - this.handAt < 1000;
    if (distance <= NEAR) this.following = true;
    else if (byHand && top < this.lastTop) this.following = false;
    this.lastTop = top;
    this.jumpButton.hidden = distance < JUMP;
  }

  grew() {
    if (this.following) this.toEnd();
    else this.jumpButton.hidden = this.distance() < JUMP;
  }

  // `element` (a message a search found) in the middle of the view, or its start at the
  // view's top if it is taller than the view; the view stays there until the person goes
  // back down.
  show(element) {
    this.following = false;
    element.scrollIntoView({ block: element.offsetHeight > this.element.clientHeight ? "start" : "center" });
    this.lastTop = this.element.scrollTop;
    this.jumpButton.hidden = this.distance() < JUMP;
  }

  // The thread changes where the person is working (a version flipped, an editor opened):
  // the view stays with it, and follows the end only if it is at the end now, however it
  // got here (the scrollbar and the keyboard's focus move it with no wheel or touch).
  keep() {
    this.following = this.distance() <= NEAR;
    this.lastTop = this.element.scrollTop;
    this.jumpButton.hidden = this.distance() < JUMP;
  }

  toEnd() {
    this.following = true;
    this.element.scrollTop = this.element.scrollHeight;
    this.lastTop = this.element.scrollTop;
    this.jumpButton.hidden = true;
  }
}
