/**
 * Custom metrics of the real-time scenarios. The same definitions as the TypeScript load
 * generator in bench/chat, so k6 and bench figures can be compared:
 *  - delivery latency: receive time minus the `clientTs` the sender put in its `send`, for every
 *    copy of a message delivered to a connection other than the one that sent it;
 *  - lost: seq numbers skipped in a connection's event stream (the protocol promises no gaps),
 *    plus sends never answered by `sent`;
 *  - duplicated: an event whose seq is not above the connection's cursor, or a messageId seen
 *    twice by the same connection.
 */
import { Counter, Rate, Trend } from "k6/metrics";

export const deliveryLatency = new Trend("chat_delivery_latency", true);
export const sendAckLatency = new Trend("chat_send_ack_latency", true);
export const messagesSent = new Counter("chat_messages_sent");
export const messagesAcked = new Counter("chat_messages_acked");
export const deliveriesExpected = new Counter("chat_deliveries_expected");
export const deliveries = new Counter("chat_deliveries");
export const lost = new Counter("chat_lost");
export const duplicated = new Counter("chat_duplicated");
export const unackedSends = new Counter("chat_send_unacked");
export const resyncs = new Counter("chat_resyncs");
/** events received during replay (after a reconnect): delivered, but not counted in the live latency */
export const replayed = new Counter("chat_replayed");
export const serverErrors = new Counter("chat_server_errors");
export const unexpectedCloses = new Counter("chat_unexpected_closes");
export const connectOk = new Rate("chat_connect_ok");
export const welcomeLatency = new Trend("chat_welcome_latency", true);

export const fanoutLatency = new Trend("fanout_delivery_latency", true);
export const fanoutReceived = new Counter("fanout_received");
export const fanoutMissed = new Counter("fanout_missed");

/** Thresholds on counters only evaluate once the metric has a sample: give them one. */
export function primeZeroCounters(): void {
  lost.add(0);
  duplicated.add(0);
  unackedSends.add(0);
  serverErrors.add(0);
  unexpectedCloses.add(0);
}

export function primeFanoutCounters(): void {
  fanoutMissed.add(0);
  fanoutReceived.add(0);
}
