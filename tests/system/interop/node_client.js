// A Node `ws` client that authenticates and subscribes as the reference Node client
// does (Authorization: Bearer header, {action, channels, filters}), and prints
// every message it receives, exactly as received, one per line.
// Usage: node node_client.js URL API_KEY CHANNELS_JSON FILTERS_JSON COUNT
const WebSocket = require('ws');

const [url, apiKey, channelsJson, filtersJson, countText] = process.argv.slice(2);
const channels = JSON.parse(channelsJson);
const filters = JSON.parse(filtersJson);
const count = Number(countText);
let events = 0;

const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${apiKey}` } });

ws.on('message', (data) => {
  const text = data.toString();
  process.stdout.write(text + '\n');
  const message = JSON.parse(text);
  if (message.type === 'connection_established') {
    ws.send(JSON.stringify({ action: 'subscribe', channels, filters }));
  } else if (message.type === 'event') {
    events += 1;
    if (events >= count) ws.close(1000, 'done');
  }
});
ws.on('close', (code, reason) => {
  process.stderr.write(`closed ${code} ${reason}\n`);
  process.exit(events >= count ? 0 : 1);
});
ws.on('error', (error) => {
  process.stderr.write(`error ${error.message}\n`);
  process.exit(2);
});
