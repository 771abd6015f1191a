// The reference browser client (NexusBrowserClient, auth by `?token=` since browsers
// cannot set headers), plus a harness for tests: window.collectNexus() resolves with
// every message received, as raw text, once `count` events have arrived.
class NexusBrowserClient {
  constructor(options) {
    this.url = options.url;
    this.apiKey = options.apiKey;
    this.ws = null;
    this.handlers = new Map();
  }

  connect() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(`${this.url}?token=${this.apiKey}`);
      this.ws.onopen = () => resolve();
      this.ws.onmessage = (event) => {
        this.raw.push(event.data);
        this.handleMessage(JSON.parse(event.data));
      };
      this.ws.onerror = (error) => reject(error);
    });
  }

  handleMessage(message) {
    const handlers = this.handlers.get(message.type) || [];
    handlers.forEach(handler => handler(message));
  }

  subscribe(channels, filters = {}) {
    this.send({ action: 'subscribe', channels, filters });
  }

  send(data) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(data));
    }
  }

  on(eventType, handler) {
    if (!this.handlers.has(eventType)) this.handlers.set(eventType, []);
    this.handlers.get(eventType).push(handler);
  }

  close() {
    if (this.ws) this.ws.close();
  }
}

window.nexusState = { raw: [], subscribed: false };

window.collectNexus = (url, apiKey, channels, filters, count) => new Promise((resolve, reject) => {
  const client = new NexusBrowserClient({ url, apiKey });
  client.raw = window.nexusState.raw;
  let events = 0;
  client.on('subscription_confirmed', () => { window.nexusState.subscribed = true; });
  client.on('event', () => {
    events += 1;
    if (events >= count) {
      client.close();
      resolve(client.raw);
    }
  });
  client.connect().then(() => client.subscribe(channels, filters), reject);
});
