/**
 * `npm run bench:notifications`: fan-out of one event to 1,000,000 followers, end to end through
 * the real worker process, next to a raw COPY of the same rows (the ceiling) and a naive
 * one-job-one-INSERT baseline (on a sample, extrapolated), all in the same run on this machine.
 * Prints the figures and writes them to docs/benchmarks.md ("## Notifications fan-out").
 */
import { cpus, loadavg, totalmem } from "node:os";
import { createDb } from "@xplicit/shared/db";
import { createEventStream } from "@xplicit/shared/modules/events";
import { createPresence } from "@xplicit/shared/modules/presence";
import { createRedis, redisKeys } from "@xplicit/shared/redis";
import { rawCopy } from "./copy.ts";
import { databaseUrl, dropEnvironment, freshEnvironment, PREFIX, REDIS_URL } from "./env.ts";
import { endToEndFanout, type FanoutRun } from "./fanout.ts";
import { naiveBaseline } from "./naive.ts";
import { writeSection } from "./report.ts";
import { markOnline, resetNotifications, seedFollowers, warmOnlineCounters } from "./seed.ts";

const FOLLOWERS = Number(process.env.BENCH_FOLLOWERS ?? 1_000_000);
const NAIVE_SAMPLE = Number(process.env.BENCH_NAIVE_SAMPLE ?? 50_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ONLINE_EVERY = Number(process.env.BENCH_ONLINE_EVERY ?? 10);
const BATCH = process.env.FANOUT_BATCH_SIZE ?? "5000";
// 1 is BullMQ's default (what "one job per recipient" gives out of the box); 16 is a tuned naive.
const NAIVE_CONCURRENCIES = (process.env.BENCH_NAIVE_CONCURRENCY ?? "1,16").split(",").map(Number);
const NAIVE_RUNS = Number(process.env.BENCH_NAIVE_RUNS ?? RUNS);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const k = (n: number) => Math.round(n).toLocaleString("en-US");
const say = (msg: string) => process.stdout.write(`${msg}\n`);
const loadAtStart = loadavg()[0]!;

await freshEnvironment();
const sql = createDb(databaseUrl(), { max: 4, appName: "bench-notifications" });
const redis = createRedis(REDIS_URL, "bench-notifications");
const keys = redisKeys(PREFIX);
try {
  say(`seeding ${k(FOLLOWERS)} followers…`);
  const { actorId, followerIds } = await seedFollowers(sql, FOLLOWERS);
  const online = await markOnline(redis, keys, followerIds, ONLINE_EVERY);
  say(`${k(online.length)} of them online (1 in ${ONLINE_EVERY})`);

  const copySeconds: number[] = [];
  const fanouts: FanoutRun[] = [];
  const loads: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    await resetNotifications(sql, redis, PREFIX);
    loads.push(loadavg()[0]!);
    copySeconds.push(await rawCopy(sql, followerIds, actorId));
    say(`run ${run}: raw COPY ${copySeconds.at(-1)!.toFixed(2)} s`);
    await resetNotifications(sql, redis, PREFIX);
    await warmOnlineCounters(sql, redis, keys, online);
    loads.push(loadavg()[0]!);
    const f = await endToEndFanout(redis, keys, actorId, run, {
      DATABASE_URL: databaseUrl(), REDIS_URL, REDIS_PREFIX: PREFIX, FANOUT_BATCH_SIZE: BATCH, LOG_LEVEL: "warn",
    });
    if (f.rows !== followerIds.length) throw new Error(`fan-out wrote ${f.rows} rows, expected ${followerIds.length}`);
    fanouts.push(f);
    say(`run ${run}: fan-out ${f.seconds.toFixed(2)} s, ${k(f.rows)} rows, ${k(f.live)} live events, peak RSS ${(f.peakRssBytes / 2 ** 20).toFixed(0)} MiB, worker CPU ${f.workerCpuSeconds.toFixed(2)} s`);
  }

  // the naive baseline, at each concurrency: the sample split into NAIVE_RUNS runs per
  // concurrency, all on distinct recipients, each timed
  const sample = followerIds.slice(0, NAIVE_SAMPLE);
  const events = createEventStream({ redis, keys, maxEvents: 1000, maxAgeSeconds: 86400 });
  const presence = createPresence({ redis, keys });
  const naiveRates = new Map<number, number[]>();
  const per = Math.ceil(sample.length / (NAIVE_RUNS * NAIVE_CONCURRENCIES.length));
  let part = 0;
  for (let run = 0; run < NAIVE_RUNS; run++) {
    for (const concurrency of NAIVE_CONCURRENCIES) {
      await resetNotifications(sql, redis, PREFIX);
      loads.push(loadavg()[0]!);
      const recipients = sample.slice(part * per, ++part * per);
      const seconds = await naiveBaseline({ sql, redis, keys, events, presence, redisUrl: REDIS_URL }, recipients, actorId, concurrency);
      naiveRates.set(concurrency, [...(naiveRates.get(concurrency) ?? []), recipients.length / seconds]);
      say(`naive run ${run + 1}, concurrency ${concurrency}: ${k(recipients.length)} jobs in ${seconds.toFixed(2)} s`);
    }
  }
  loads.push(loadavg()[0]!);

  const n = followerIds.length;
  const fanSeconds = median(fanouts.map((f) => f.seconds));
  const fanRate = n / fanSeconds;
  const liveRate = median(fanouts.map((f) => f.live / f.seconds));
  const copyRate = n / median(copySeconds);
  const naive = NAIVE_CONCURRENCIES.map((c) => ({ c, rate: median(naiveRates.get(c)!), rates: naiveRates.get(c)! }));
  // The issue's "naive" is one job per recipient as BullMQ runs it out of the box (concurrency 1),
  // whatever order the concurrencies were listed in; without it, the first one measured.
  const baseline = naive.find((x) => x.c === 1) ?? naive[0]!;
  const naiveRate = baseline.rate;
  const peak = Math.max(...fanouts.map((f) => f.peakRssBytes));
  const cpuPerMillion = (median(fanouts.map((f) => f.workerCpuSeconds)) / n) * 1e6;
  const body = `
Run with \`npm run bench:notifications\` (${new Date().toISOString().slice(0, 10)}). One \`fanout\` job for an actor
with ${k(n)} followers, timed from enqueue to job completion through the real worker process
(\`services/notification-worker\`, batches of ${BATCH}, three in flight: keyset page of \`follows\` → one
\`INSERT … SELECT FROM unnest\` with the mute filter (a plain insert guarded by the unique dedupe index; a batch that
meets an existing row is redone with \`ON CONFLICT DO NOTHING\`; inserts run one after another while earlier pages
are delivered) → presence and cached unread counters as two \`MGET\`s, one script for the cached counters →
the online recipients' event-stream appends in one Lua call → checkpoint). ${k(online.length)} followers
(1 in ${ONLINE_EVERY}) have an open client (presence written by the presence module) and a cached unread counter, as a
chat replica leaves them: it warms the counter when a member connects, so a fan-out never counts in Postgres for an online member.
Medians of ${RUNS} runs; each run is a raw \`COPY\` then the fan-out, each from an empty \`notifications\` table
and empty counters; then the naive baseline, ${NAIVE_RUNS} runs per worker concurrency on distinct recipients (${k(sample.length)} in all).
Machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; Postgres, Redis,
the worker and this script on the same host.
**Load average (1 min) sampled before each step: ${loads.map((l) => l.toFixed(1)).join(", ")}** (${loadAtStart.toFixed(1)} at the start,
${loadavg()[0]!.toFixed(1)} at the end; anything above the core count means other work shared the machine, so every
figure is low and the ratios, measured side by side, are the comparable numbers).

| | rows/s | total for ${k(n)} | vs raw COPY | vs naive |
|---|---|---|---|---|
| fan-out, end to end (rows written and live events published) | **${k(fanRate)}** | ${fanSeconds.toFixed(2)} s | **${(fanRate / copyRate).toFixed(2)}×** | **${(fanRate / naiveRate).toFixed(0)}×** |
| raw \`COPY\` of the same rows (ceiling, no Redis, no dedupe logic) | ${k(copyRate)} | ${median(copySeconds).toFixed(2)} s | 1× | ${(copyRate / naiveRate).toFixed(0)}× |
${naive.map(({ c, rate }) => `| naive: one BullMQ job + one \`INSERT\` per recipient (worker concurrency ${c}${c === 1 ? ", BullMQ's default" : ""}; sample, extrapolated) | ${k(rate)} | ${(n / rate).toFixed(0)} s | ${(rate / copyRate).toFixed(3)}× | ${(rate / naiveRate).toFixed(2)}× |`).join("\n")}

- Live events published during the fan-out: ${k(median(fanouts.map((f) => f.live)))} per run, ${k(liveRate)} events/s.
- Worker CPU (user + system, enqueue to completion): ${cpuPerMillion.toFixed(1)} s per 1,000,000 notifications (median); peak worker RSS (VmHWM): ${(peak / 2 ** 20).toFixed(0)} MiB.
- Per-run fan-out seconds: ${fanouts.map((f) => f.seconds.toFixed(2)).join(", ")}; raw COPY seconds: ${copySeconds.map((x) => x.toFixed(2)).join(", ")};
  naive rows/s: ${naive.map(({ c, rates }) => `concurrency ${c}: ${rates.map((r) => k(r)).join(", ")}`).join("; ")}.
- "vs naive" is against concurrency ${baseline.c}${baseline.c === 1 ? " (BullMQ's default)" : " (concurrency 1 was not measured)"}; against ${naive.map(({ c, rate }) => `concurrency ${c}: ${(fanRate / rate).toFixed(0)}×`).join(", ")}.
- Targets from issue 4: ≥ 150,000 notifications/s end to end (on a quiet machine), ≥ 0.5× raw COPY, ≥ 50× naive.
`;
  say(body);
  writeSection(body);
} finally {
  redis.disconnect();
  await sql.end({ timeout: 2 });
  if (process.env.BENCH_KEEP !== "1") await dropEnvironment();
}
