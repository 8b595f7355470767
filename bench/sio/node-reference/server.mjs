// Reference Node relay for chatd's Socket.IO benchmark (bench/sio/sio_bench.sh): npm socket.io
// (version pinned in package.json) doing exactly what examples/sio_conformance.cpp does for the
// benchmark's events:
//   "join"    (room, ack?)    -> socket.join(room); ack(true)
//   "leave"   (room, ack?)    -> socket.leave(room); ack(true)
//   "to-room" (room, ...args) -> socket.to(room).emit("room-message", ...args)  (room minus sender)
// Usage: node server.mjs [port] [--ping-interval-ms N] [--ping-timeout-ms N]
//        (port also from $PORT; default 3100). Prints "listening on <port>" when ready.
import { createServer } from "node:http";
import { Server } from "socket.io";

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : fallback;
}
const positional = process.argv.slice(2).find((a, i, all) => !a.startsWith("--") &&
                                              !(i > 0 && all[i - 1].startsWith("--")));
const port = Number(positional ?? process.env.PORT ?? 3100);
const pingInterval = option("--ping-interval-ms", 25000);
const pingTimeout = option("--ping-timeout-ms", 20000);

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ["websocket", "polling"],
  pingInterval,
  pingTimeout,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
});

function takeAck(args) {
  return args.length > 0 && typeof args[args.length - 1] === "function" ? args.pop() : null;
}

io.on("connection", (socket) => {
  socket.on("join", (room, ...rest) => {
    const ack = takeAck(rest);
    socket.join(String(room));
    if (ack) ack(true);
  });
  socket.on("leave", (room, ...rest) => {
    const ack = takeAck(rest);
    socket.leave(String(room));
    if (ack) ack(true);
  });
  socket.on("to-room", (room, ...args) => {
    const ack = takeAck(args);
    socket.to(String(room)).emit("room-message", ...args);
    if (ack) ack(true);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening on ${httpServer.address().port}`);
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    httpServer.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
