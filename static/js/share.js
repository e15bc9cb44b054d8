// A shared conversation whose last reply is still being written: follow it word by word
// over a read-only socket until it ends, or until the link is revoked.

import { StreamedMessage } from "./render.js";
import { Socket } from "./socket.js";

const page = document.getElementById("share");
const article = page.querySelector('article.message[data-status="streaming"]');
const reply = new StreamedMessage(article);
// Asked once per gap: the deltas after it keep coming until the server reads the ask.
let asked = false;
const resume = () => {
  if (asked) return;
  asked = true;
  socket.send({ type: "resume", message: article.dataset.id, seq: reply.seq, client_id: "resume" });
};

const socket = new Socket(page.dataset.socket, {
  onOpen() {
    asked = false;
    resume();
  },
  onFrame(frame) {
    // Refused (too many readers asking at once): asked again at the next gap once the wait
    // is over, or the reply's `done` brings it whole.
    if (frame.type === "error" && frame.client_id === "resume") {
      setTimeout(() => (asked = false), (frame.retry_after || 1) * 1000);
      return;
    }
    if (frame.message !== article.dataset.id) return;
    if (frame.type === "delta" && !reply.delta(frame)) resume();
    else if (frame.type === "snapshot") {
      asked = false;
      reply.snapshot(frame);
    } else if (frame.type === "done") {
      reply.done(frame);
      socket.close(1000);
    }
  },
  onClose(event) {
    if (event.code === Number(page.dataset.closeNotFound)) {
      reply.note(gettext("This link has been revoked."), true);
      return false;
    }
    return event.code !== 1000 && article.dataset.status === "streaming";
  },
});
