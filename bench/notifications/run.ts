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
import { markOnline, resetNotifications, seedFollowers } from "./seed.ts";

const FOLLOWERS = Number(process.env.BENCH_FOLLOWERS ?? 1_000_000);
const NAIVE_SAMPLE = Number(process.env.BENCH_NAIVE_SAMPLE ?? 50_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ONLINE_EVERY = Number(process.env.BENCH_ONLINE_EVERY ?? 10);
const BATCH = process.env.FANOUT_BATCH_SIZE ?? "5000";
const NAIVE_CONCURRENCY = Number(process.env.BENCH_NAIVE_CONCURRENCY ?? 16);

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
  for (let run = 1; run <= RUNS; run++) {
    await resetNotifications(sql, redis, PREFIX);
    copySeconds.push(await rawCopy(sql, followerIds, actorId));
    say(`run ${run}: raw COPY ${copySeconds.at(-1)!.toFixed(2)} s`);
    await resetNotifications(sql, redis, PREFIX);
    const f = await endToEndFanout(redis, keys, actorId, run, {
      DATABASE_URL: databaseUrl(), REDIS_URL, REDIS_PREFIX: PREFIX, FANOUT_BATCH_SIZE: BATCH, LOG_LEVEL: "warn",
    });
    if (f.rows !== followerIds.length) throw new Error(`fan-out wrote ${f.rows} rows, expected ${followerIds.length}`);
    fanouts.push(f);
    say(`run ${run}: fan-out ${f.seconds.toFixed(2)} s, ${k(f.rows)} rows, ${k(f.live)} live events, peak RSS ${(f.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
  }

  await resetNotifications(sql, redis, PREFIX);
  const sample = followerIds.slice(0, NAIVE_SAMPLE);
  const events = createEventStream({ redis, keys, maxEvents: 1000, maxAgeSeconds: 86400 });
  const presence = createPresence({ redis, keys });
  const naiveSeconds = await naiveBaseline({ sql, redis, keys, events, presence, redisUrl: REDIS_URL }, sample, actorId, NAIVE_CONCURRENCY);
  say(`naive: ${k(sample.length)} jobs in ${naiveSeconds.toFixed(2)} s`);

  const n = followerIds.length;
  const fanSeconds = median(fanouts.map((f) => f.seconds));
  const fanRate = n / fanSeconds;
  const liveRate = median(fanouts.map((f) => f.live / f.seconds));
  const copyRate = n / median(copySeconds);
  const naiveRate = sample.length / naiveSeconds;
  const peak = Math.max(...fanouts.map((f) => f.peakRssBytes));
  const body = `
Run with \`npm run bench:notifications\` (${new Date().toISOString().slice(0, 10)}). One \`fanout\` job for an actor
with ${k(n)} followers, timed from enqueue to job completion through the real worker process
(\`services/notification-worker\`, batches of ${BATCH}: keyset page of \`follows\` → one \`INSERT … SELECT FROM unnest\`
with mute filter and \`ON CONFLICT DO NOTHING\` → unread counters and presence in one Lua call each → one pipeline of
event-stream appends for the online recipients → checkpoint). ${k(online.length)} followers (1 in ${ONLINE_EVERY}) have an
open client. Medians of ${RUNS} runs; every run starts from an empty \`notifications\` table and empty counters.
Machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; Postgres, Redis,
the worker and this script on the same host; load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end
(anything above the core count means other work shared the machine and every figure is low).

| | rows/s | total for ${k(n)} | vs raw COPY | vs naive |
|---|---|---|---|---|
| fan-out, end to end (rows written and live events published) | **${k(fanRate)}** | ${fanSeconds.toFixed(2)} s | ${(fanRate / copyRate).toFixed(2)}× | **${(fanRate / naiveRate).toFixed(0)}×** |
| raw \`COPY\` of the same rows (ceiling, no Redis, no dedupe logic) | ${k(copyRate)} | ${median(copySeconds).toFixed(2)} s | 1× | ${(copyRate / naiveRate).toFixed(0)}× |
| naive: one BullMQ job + one \`INSERT\` per recipient (concurrency ${NAIVE_CONCURRENCY}, ${k(sample.length)} sample, extrapolated) | ${k(naiveRate)} | ${(n / naiveRate).toFixed(0)} s | ${(naiveRate / copyRate).toFixed(3)}× | 1× |

- Live events published during the fan-out: ${k(median(fanouts.map((f) => f.live)))} per run, ${k(liveRate)} events/s.
- Peak worker RSS (VmHWM): ${(peak / 2 ** 20).toFixed(0)} MiB.
- Per-run fan-out seconds: ${fanouts.map((f) => f.seconds.toFixed(2)).join(", ")}; raw COPY seconds: ${copySeconds.map((s) => s.toFixed(2)).join(", ")}.
- Targets from issue 4: ≥ 150,000 notifications/s end to end, ≥ 0.5× raw COPY, ≥ 50× naive.
`;
  say(body);
  writeSection(body);
} finally {
  redis.disconnect();
  await sql.end({ timeout: 2 });
  if (process.env.BENCH_KEEP !== "1") await dropEnvironment();
}
