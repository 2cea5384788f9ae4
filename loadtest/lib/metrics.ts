/**
 * Custom metrics of the real-time scenarios. The same definitions as the TypeScript load
 * generator in bench/chat where k6 can measure them, so k6 and bench figures can be compared:
 *  - delivery latency: the time k6 read the frame off the socket (k6/websockets'
 *    MessageEvent.timestamp, before the VU's event loop got to it) minus the `clientTs` the sender
 *    put in its `send`, for every live copy of a device's message delivered to a connection other
 *    than the one that sent it (sender and receivers run on the k6 machine, so one clock). Copies
 *    delivered during a replay after a reconnect are counted (chat_replayed) but have no latency:
 *    their age is the time the device was away;
 *  - deliveries: copies of the devices' own numbered messages (message-body.ts) reaching another
 *    device; messages written by anything else (the api mix's HTTP sends, seed messages, the
 *    fan-out's announcements) are checked for gaps and duplicates like every event but are not
 *    deliveries and have no latency here;
 *  - lost: seq numbers skipped in a connection's event stream (the protocol promises no gaps,
 *    `why=gap`), a welcome that moves a resumed cursor forward without `resync` (`welcome`), the tail
 *    check: events the member's log (GET /api/events) held beyond the socket's cursor at the end of
 *    a session that had still not arrived TAIL_GRACE_MS later (`tail`), and another device's
 *    message confirmed by `sent` that never reached this device although written after it could
 *    receive it (`sender_gap`: sender-gaps.ts), which no log check can see;
 *  - send unacked: sends never answered by `sent` (or refused by the server);
 *  - duplicated: an event whose seq is not above the connection's cursor, or a messageId seen
 *    twice by the same device within its memory of ids (as long as its own sends may be resent,
 *    and at least 10 minutes: chat-client.ts newDevice);
 *  - resyncs: the server could not replay a cursor (the client would have to refetch over HTTP).
 */
import { Counter, Rate, Trend } from "k6/metrics";

export const deliveryLatency = new Trend("chat_delivery_latency", true);
export const sendAckLatency = new Trend("chat_send_ack_latency", true);
export const messagesSent = new Counter("chat_messages_sent");
export const messagesAcked = new Counter("chat_messages_acked");
/** resends of unanswered sends (after a reconnect, a `busy`/`internal` error, or a timeout) */
export const resends = new Counter("chat_resends");
export const deliveriesExpected = new Counter("chat_deliveries_expected");
export const deliveries = new Counter("chat_deliveries");
export const lost = new Counter("chat_lost");
/** other devices' messages the sender-gap check found arrived as they must have (0: the check saw nothing to check) */
export const senderVerified = new Counter("chat_sender_verified");
export const duplicated = new Counter("chat_duplicated");
export const unackedSends = new Counter("chat_send_unacked");
export const resyncs = new Counter("chat_resyncs");
/** sessions whose tail could not be checked (api error, socket closed during the grace period), or that ended offline with events in the log it never had */
export const tailUnverified = new Counter("chat_tail_unverified");
/** events received during replay (after a reconnect): delivered, but not counted in the live latency */
export const replayed = new Counter("chat_replayed");
export const serverErrors = new Counter("chat_server_errors");
export const unexpectedCloses = new Counter("chat_unexpected_closes");
/** closes of a draining replica (`reconnect` then 1012): the device resumes elsewhere */
export const drainReconnects = new Counter("chat_drain_reconnects");
export const connectOk = new Rate("chat_connect_ok");
export const welcomeLatency = new Trend("chat_welcome_latency", true);

export const fanoutLatency = new Trend("fanout_delivery_latency", true);
export const fanoutReceived = new Counter("fanout_received");
export const fanoutMissed = new Counter("fanout_missed");

/** Every counter with a threshold gets a zero sample, so it shows in the summary even when nothing happened. */
export function primeZeroCounters(): void {
  lost.add(0);
  duplicated.add(0);
  unackedSends.add(0);
  resyncs.add(0);
  tailUnverified.add(0);
  serverErrors.add(0);
  unexpectedCloses.add(0);
}

export function primeFanoutCounters(): void {
  fanoutMissed.add(0);
  fanoutReceived.add(0);
}
