/**
 * Bun's WebSocket callbacks. Hono's adapter builds a context object per frame; at tens of
 * thousands of frames a second that is garbage we do not need, so these callbacks go straight
 * to the Connection that the upgrade stored in the socket's data.
 */
import type { ServerWebSocket, WebSocketHandler } from "bun";
import type { Connection } from "./connection.ts";

interface UpgradeData {
  events: { conn: Connection };
  url?: URL;
  protocol?: string;
}

function connOf(ws: ServerWebSocket<UpgradeData>): Connection {
  return ws.data.events.conn;
}

export function websocketHandler(opts: { maxPayloadBytes: number; idleTimeoutSeconds: number; backpressureLimit: number }): WebSocketHandler<UpgradeData> {
  return {
    open(ws) {
      // Hono's upgrade stores a parsed URL per socket; nothing reads it after the upgrade.
      ws.data.url = undefined;
      ws.data.protocol = undefined;
      connOf(ws).opened(ws as never);
    },
    message(ws, message) {
      connOf(ws).received(message as string | Buffer);
    },
    close(ws) {
      connOf(ws).closed();
    },
    maxPayloadLength: opts.maxPayloadBytes,
    idleTimeout: opts.idleTimeoutSeconds,
    sendPings: true,
    backpressureLimit: opts.backpressureLimit,
    closeOnBackpressureLimit: false,
    perMessageDeflate: false,
  };
}
