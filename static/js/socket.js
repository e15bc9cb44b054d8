// A websocket that reconnects with backoff and queues what is sent while it is down.
// The page decides, per close code, whether to reconnect.

export class Socket {
  // `path`: the socket's path on this host; `onClose(event)` returns true to reconnect.
  constructor(path, { onOpen = () => {}, onFrame = () => {}, onClose = () => true } = {}) {
    this.path = path;
    this.handlers = { onOpen, onFrame, onClose };
    this.queued = [];
    this.delay = 500;
    this.connect();
  }

  connect() {
    this.timer = undefined;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.socket = new WebSocket(`${scheme}://${location.host}${this.path}`);
    this.socket.addEventListener("open", async () => {
      this.delay = 500;
      try {
        await this.handlers.onOpen(); // what was queued waits for the page's own first words
      } finally {
        const backlog = this.queued;
        this.queued = [];
        backlog.forEach((frame) => this.send(frame));
      }
    });
    this.socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handlers.onFrame(frame);
    });
    this.socket.addEventListener("close", (event) => {
      if (!this.handlers.onClose(event)) return;
      // Spread out: the pages a restart closes do not all come back at the same instant.
      this.timer = setTimeout(() => this.connect(), this.delay * (0.75 + Math.random() / 2));
      this.delay = Math.min(this.delay * 2, 10000);
    });
  }

  // The browser says the network is gone: a socket that still looks open would wait for
  // the connection to time out, which takes minutes, before anything is said or retried.
  drop() {
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(4000);
  }

  // The network is back: the next try now, not after the backoff.
  retryNow() {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.delay = 500;
    this.connect();
  }

  get open() {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(frame) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
    else this.queued.push(frame);
  }

  close(code = 1000) {
    this.socket.close(code);
  }
}
