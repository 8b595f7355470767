// Light-load latency with the official client: one message:send at a time into a 4-member group,
// 200 sends; prints ack and send-to-deliver (at another member) p50/p99 in ms.
//
//   cd tests/realtime && npm ci && cd ../..
//   ./build/release/chatd --port 5056 --data-dir "$(mktemp -d)" &
//   node bench/send/light_latency.mjs http://127.0.0.1:5056
import { io } from '../../tests/realtime/node_modules/socket.io-client/build/esm-debug/index.js';

const url = process.argv[2] ?? 'http://127.0.0.1:5000';
const SENDS = 200;

async function post(path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url + path, { method: 'POST', headers, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

const users = [];
for (let i = 0; i < 4; i++) {
  const email = `light${i}-${process.pid}-${Date.now()}@bench.test`;
  users.push(await post('/api/user', { name: `Light ${i}`, email, password: 'password123' }));
}
const group = await post('/api/chat/group', { name: 'light', users: users.slice(1).map((u) => u._id) },
  users[0].token);
const sockets = [];
for (const u of users) {
  const s = io(url, { auth: { token: u.token }, transports: ['websocket'] });
  await new Promise((resolve, reject) => { s.on('connect', resolve); s.on('connect_error', reject); });
  sockets.push(s);
}
const deliveredAt = new Map();
sockets[3].on('message:new', (m) => deliveredAt.set(m.clientMsgId, performance.now()));

const acks = [];
const deliveries = [];
for (let i = 0; i < SENDS; i++) {
  const clientMsgId = `light-${i}`;
  const t0 = performance.now();
  const r = await sockets[i % 3].emitWithAck('message:send', { chatId: group._id, clientMsgId, content: 'x' });
  if (!r.ok) throw new Error(JSON.stringify(r));
  acks.push(performance.now() - t0);
  await new Promise((resolve) => setTimeout(resolve, 2));
  deliveries.push(deliveredAt.get(clientMsgId) - t0);
}
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
console.log(`sends ${SENDS}: ack p50 ${pct(acks, 0.5).toFixed(2)} ms p99 ${pct(acks, 0.99).toFixed(2)} ms; ` +
  `send-to-deliver p50 ${pct(deliveries, 0.5).toFixed(2)} ms p99 ${pct(deliveries, 0.99).toFixed(2)} ms`);
for (const s of sockets) s.close();
