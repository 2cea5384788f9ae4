/**
 * A TCP relay to Redis for tests that need Redis to misbehave on cue: commands held back (as by a
 * Redis that is slow or away), replies held back, connections cut (what a restart looks like to a
 * client), and every command a client sent counted on the way.
 */
import net from "node:net";

/** A TCP relay to Redis that records what clients send and can hold it back or cut connections. */
export async function redisRelay(redisUrl: string) {
  const target = new URL(redisUrl);
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const heldBack: { upstream: net.Socket; chunk: Buffer }[] = [];
  const heldReplies: { client: net.Socket; chunk: Buffer }[] = [];
  /** connections gone silent for good, both ways (`freezeOpen`) */
  const frozen = new WeakSet<object>();
  let holding = false;
  let holdingReplies = false;
  let sent = "";
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    client.on("data", (chunk: Buffer) => {
      if (frozen.has(pair)) return;
      sent += chunk.toString("latin1");
      if (holding) heldBack.push({ upstream, chunk });
      else upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (frozen.has(pair)) return;
      if (holdingReplies) heldReplies.push({ client, chunk });
      else client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    /** Commands reach Redis no more (their replies never come) until `release`. */
    hold: () => void (holding = true),
    release() {
      holding = false;
      for (const { upstream, chunk } of heldBack.splice(0)) upstream.write(chunk);
    },
    /** What Redis sends (replies, pub/sub messages) reaches the client no more until `releaseReplies`. */
    holdReplies: () => void (holdingReplies = true),
    releaseReplies() {
      holdingReplies = false;
      for (const { client, chunk } of heldReplies.splice(0)) client.write(chunk);
    },
    /**
     * The connections open now go silent for good, both ways, with no error: a half-open
     * connection (a dropped NAT or conntrack entry). Connections made afterwards work.
     */
    freezeOpen: () => {
      for (const p of pairs) frozen.add(p);
    },
    /** Cuts every connection, as a restarted Redis does. */
    cut: () => {
      for (const p of pairs) p.client.destroy();
    },
    /** How many times `text` was sent by clients so far (end a RESP argument with \r\n to match it whole). */
    count: (text: string) => sent.split(text).length - 1,
    close: () => {
      for (const p of pairs) p.client.destroy();
      server.close();
    },
  };
}

