// The host's end of a TCP transfer each way with a guest (test/integration/
// net-tap.kvm.test.ts), run inside the test's network namespace:
//   node tcp-peer.mjs GUEST_ADDR SEND_PORT LOCAL_ADDR RECEIVE_PORT BYTES
// Sends BYTES of seeded pseudo-random data to GUEST_ADDR:SEND_PORT (retrying
// until the guest listens), accepts one connection on LOCAL_ADDR:RECEIVE_PORT
// and reads it to the end. Prints {"sent": sha256} and {"received": sha256}.
import { createHash } from 'node:crypto';
import { createConnection, createServer } from 'node:net';

const [guest, sendPort, local, receivePort, bytes] = process.argv.slice(2);
const data = Buffer.alloc(Number(bytes));
let x = 12345;
for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
const sha = (b) => createHash('sha256').update(b).digest('hex');

const server = createServer((socket) => {
  const parts = [];
  socket.on('data', (d) => parts.push(d));
  socket.on('end', () => {
    console.log(JSON.stringify({ received: sha(Buffer.concat(parts)), bytes: Buffer.concat(parts).length }));
    server.close();
  });
});
server.listen(Number(receivePort), local);

function send(attempt) {
  const c = createConnection({ host: guest, port: Number(sendPort) });
  c.on('connect', () => c.end(data, () => console.log(JSON.stringify({ sent: sha(data) }))));
  c.on('error', () => (attempt < 120 ? setTimeout(() => send(attempt + 1), 1000) : process.exit(1)));
}
send(0);
