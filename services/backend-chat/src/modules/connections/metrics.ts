import { counter, gauge, histogram, hotCounter } from "@xplicit/shared/metrics";

export const socketsGauge = gauge("chat_sockets", "open WebSocket connections on this replica");
export const membersGauge = gauge("chat_members", "distinct members with a socket on this replica");
export const framesIn = hotCounter("chat_frames_in_total", "frames received, by type", "type");
export const framesOut = hotCounter("chat_frames_out_total", "frames sent, by type", "type");
export const deliveryLatency = histogram(
  "chat_delivery_latency_seconds",
  "from event append (after persist) to socket write",
  [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
);
export const resumeOutcomes = counter("chat_resume_total", "hello outcomes", ["outcome"] as const);
export const sendDedupHits = counter("chat_send_dedup_hits_total", "sends answered from an earlier identical id");
export const framesRateLimited = counter("chat_frames_rate_limited_total", "frames dropped by a socket's frame budget (CHAT_RATE_PER_SECOND)");
export const slowConsumerCloses = counter("chat_slow_consumer_closes_total", "sockets closed with 1013 on backpressure");
export const sendsRefused = hotCounter("chat_sends_refused_total", "sends refused before they were handled: busy (bytes waiting on one socket), member_rate (one member's budget over several sockets)", "reason");

/** Per-second rates for /status. */
export const rates = { in: 0, out: 0, inPerSecond: 0, outPerSecond: 0 };
setInterval(() => {
  rates.inPerSecond = rates.in;
  rates.outPerSecond = rates.out;
  rates.in = 0;
  rates.out = 0;
}, 1000).unref?.();
