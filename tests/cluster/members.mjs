// A chat member as the protocol asks clients to behave (docs/PROTOCOL.md, "Offline and
// reconnect"): one socket that reconnects by itself, a `sync` from its cursors after every
// reconnect, sends retried with the same clientMsgId until acked. It records what it heard so that
// tests can check every message arrived once, in order.

import { rawSocket, connected, sleep, ms } from '../realtime/harness.mjs';

export class Member {
  /** Connects `user` to `url` (reconnecting quickly, through whatever node answers). */
  static async join(url, user, chatIds, opts = {}) {
    const member = new Member(user, chatIds);
    const socket = rawSocket(url, {
      auth: { token: user.token },
      transports: opts.transports ?? ['websocket'],
      reconnection: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      ...opts.socket,
    });
    member.attach(socket);
    await connected(socket, 10_000);
    return member;
  }

  constructor(user, chatIds) {
    this.user = user;
    this.have = new Map(chatIds.map((id) => [id, new Map()]));  // chatId -> seq -> message
    this.cursor = new Map(chatIds.map((id) => [id, 0]));          // everything up to it is here
    this.reconnects = 0;
    this.liveDuplicates = [];  // [chatId, seq] heard twice on one connection
    this.outOfOrder = [];      // [chatId, seq] heard after a higher seq on one connection
    this.connection = 0;
  }

  attach(socket) {
    this.socket = socket;
    let heard = new Map();  // this connection's: chatId -> {max, seen}
    socket.on('connect', () => {
      this.connection += 1;
      heard = new Map();
      if (this.connection > 1) {
        this.reconnects += 1;
        this.sync().catch(() => {});  // a failed sync is retried by settle()
      }
    });
    socket.on('message:new', (m) => {
      if (!heard.has(m.chatId)) heard.set(m.chatId, { max: 0, seen: new Set() });
      const chat = heard.get(m.chatId);
      if (chat.seen.has(m.seq)) this.liveDuplicates.push([m.chatId, m.seq]);
      else if (m.seq < chat.max) this.outOfOrder.push([m.chatId, m.seq]);
      chat.seen.add(m.seq);
      chat.max = Math.max(chat.max, m.seq);
      this.keep(m);
    });
  }

  keep(m) {
    const have = this.have.get(m.chatId);
    if (!have) return;
    have.set(m.seq, m);
    let cursor = this.cursor.get(m.chatId);
    while (have.has(cursor + 1)) cursor += 1;
    this.cursor.set(m.chatId, cursor);
  }

  async sync() {
    for (;;) {
      const cursors = Object.fromEntries(this.cursor);
      const r = await this.socket.timeout(ms(10_000)).emitWithAck('sync', { cursors, limit: 200 });
      if (!r.ok) throw new Error(`sync: ${JSON.stringify(r)}`);
      for (const m of r.messages) this.keep(m);
      if (!r.more) return;
    }
  }

  /** Waits until seqs 1..last of the chat are here; with `sync`, asks for what is missing. */
  async settle(chatId, last, { sync = true, timeout = 20_000 } = {}) {
    const deadline = Date.now() + ms(timeout);
    while (this.cursor.get(chatId) < last) {
      if (Date.now() > deadline) {
        throw new Error(`${this.user.name} has ${this.cursor.get(chatId)} of ${last} messages of ${chatId}`);
      }
      if (sync && this.socket.connected) await this.sync().catch(() => {});
      await sleep(200);
    }
  }

  /** The seqs this member has of the chat, ascending. */
  seqs(chatId) {
    return [...this.have.get(chatId).keys()].sort((a, b) => a - b);
  }

  close() {
    this.socket.close();
  }
}

/**
 * Sends `count` messages one after another, each retried with its clientMsgId until acked (a
 * reconnect, `unavailable`), `gapMs` apart. Resolves with the acked messages and the ones given up.
 */
export async function sendAll(member, chatId, count, prefix, { gapMs = 0, giveUpMs = 30_000 } = {}) {
  const acked = [];
  const failed = [];
  for (let i = 0; i < count; i++) {
    const payload = { chatId, clientMsgId: `${prefix}-${i}`, content: `${prefix} ${i}` };
    const deadline = Date.now() + ms(giveUpMs);
    for (;;) {
      let ack;
      try {
        ack = await member.socket.timeout(ms(3000)).emitWithAck('message:send', payload);
      } catch {
        ack = null;  // no ack: the node went, or is slow; the retry is idempotent
      }
      if (ack?.ok) {
        acked.push(ack.message);
        member.keep(ack.message);  // a sender's own socket is not told again
        break;
      }
      if (ack && ack.error?.code !== 'unavailable') {
        failed.push({ payload, ack });
        break;
      }
      if (Date.now() > deadline) {
        failed.push({ payload, ack });
        break;
      }
      await sleep(200);
    }
    if (gapMs) await sleep(gapMs);
  }
  return { acked, failed };
}
