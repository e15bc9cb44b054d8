// A shared conversation whose last reply is still being written: follow it word by word
// over a read-only socket until it ends, or until the link is revoked.

import { StreamedMessage } from "./render.js";

const page = document.getElementById("share");
const article = page.querySelector('article.message[data-status="streaming"]');
const reply = new StreamedMessage(article);
let delay = 500;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/shares/${page.dataset.token}/`);
  const resume = () => socket.send(JSON.stringify({ type: "resume", message: article.dataset.id, seq: reply.seq }));
  socket.addEventListener("open", resume);
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.message !== article.dataset.id) return;
    if (frame.type === "delta" && !reply.delta(frame)) resume();
    else if (frame.type === "snapshot") reply.snapshot(frame);
    else if (frame.type === "done") {
      reply.done(frame);
      socket.close(1000);
    }
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4404) {
      reply.note("This link has been revoked.", true);
      return;
    }
    if (event.code === 1000 || article.dataset.status !== "streaming") return;
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10000);
  });
}

connect();
