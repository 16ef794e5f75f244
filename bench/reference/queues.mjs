// The reference queues for svc-messaging's benchmark (bench/src/bin/message_queue.rs), with
// its scenarios: a burst of `jobs` due at the same instant, then `rate` jobs/s for `secs`
// seconds, each taken by two worker processes whose handler does nothing but report the job.
//
//   cd bench/reference && npm ci
//   node queues.mjs bullmq   [jobs] [rate] [secs]   # Redis at 127.0.0.1:6379
//   createdb -h 127.0.0.1 -U postgres crm_bench_reference
//   node queues.mjs graphile [jobs] [rate] [secs]   # Postgres (DATABASE_URL, default that database)
//
// Prints jobs/s once due, the lag due -> handled (p50/p99/max) and how many jobs ran twice.

import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';

const [, , kind, jobsArg, rateArg, secsArg] = process.argv;
const JOBS = Number(jobsArg ?? 100000);
const RATE = Number(rateArg ?? 1000);
const SECS = Number(secsArg ?? 30);
const REDIS = { host: '127.0.0.1', port: 6379 };
// A database of its own (createdb crm_bench_reference), so graphile-worker's schema stays there.
const PG = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/crm_bench_reference';
// One name for the parent and its workers (they are other processes).
const QUEUE = process.env.CRM_BENCH_QUEUE ?? `crm-bench-${process.pid}`;

// ---- the two systems -----------------------------------------------------------------------

async function bullmq() {
  const { Queue, Worker } = await import('bullmq');
  return {
    async producer() {
      const queue = new Queue(QUEUE, { connection: REDIS });
      return {
        async add(jobs) {
          const now = Date.now();
          for (let i = 0; i < jobs.length; i += 1000) {
            await queue.addBulk(jobs.slice(i, i + 1000).map((j) => ({
              name: 'sms',
              data: j,
              opts: { delay: Math.max(0, j.due - now), removeOnComplete: true },
            })));
          }
        },
        async close() { await queue.obliterate({ force: true }); await queue.close(); },
      };
    },
    async worker(report) {
      new Worker(QUEUE, async (job) => report(job.data), { connection: REDIS, concurrency: 50 });
    },
  };
}

async function graphile() {
  const { run, makeWorkerUtils } = await import('graphile-worker');
  return {
    async producer() {
      const utils = await makeWorkerUtils({ connectionString: PG });
      await utils.migrate();
      return {
        async add(jobs) {
          // graphile-worker's own bulk insert (`add_jobs`), 1,000 jobs per call.
          for (let i = 0; i < jobs.length; i += 1000) {
            const specs = jobs.slice(i, i + 1000).map((j) => ({
              identifier: 'sms', payload: j, run_at: new Date(j.due).toISOString(),
            }));
            await utils.withPgClient((client) => client.query(
              'SELECT graphile_worker.add_jobs(ARRAY(SELECT json_populate_recordset(' +
                'NULL::graphile_worker.job_spec, $1::json)))',
              [JSON.stringify(specs)],
            ));
          }
        },
        async close() { await utils.release(); },
      };
    },
    async worker(report) {
      await run({
        connectionString: PG,
        concurrency: 10,
        noHandleSignals: true,
        pollInterval: 1000,
        taskList: { sms: async (payload) => report(payload) },
      });
    },
  };
}

const systems = { bullmq, graphile };

// ---- a worker process ----------------------------------------------------------------------

if (kind?.startsWith('worker-')) {
  const system = await systems[kind.slice('worker-'.length)]();
  await system.worker((job) => process.send([job.id, Date.now() - job.due]));
} else {
  if (!systems[kind]) {
    console.error('usage: node queues.mjs bullmq|graphile [jobs] [rate] [secs]');
    process.exit(2);
  }
  await main(await systems[kind]());
  process.exit(0);
}

// ---- the parent: queues jobs, collects reports ---------------------------------------------

async function main(system) {
  const seen = new Map();
  let lags = [];
  let last = 0;
  const workers = [0, 1].map(() => {
    const child = fork(new URL(import.meta.url).pathname, [`worker-${kind}`], {
      env: { ...process.env, CRM_BENCH_QUEUE: QUEUE },
    });
    child.on('message', ([id, lag]) => {
      seen.set(id, (seen.get(id) ?? 0) + 1);
      lags.push(lag);
      last = Date.now();
    });
    return child;
  });
  const producer = await system.producer();
  await new Promise((r) => setTimeout(r, 2000));

  const until = async (count, limitMs) => {
    const end = Date.now() + limitMs;
    while (lags.length < count && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return lags.length >= count;
  };
  const pct = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
  const summary = (name, extra) => {
    const sorted = Float64Array.from(lags).sort();
    console.log(`${kind} ${name}: ${lags.length} jobs${extra}; lag p50 ${pct(sorted, 0.5)} ms, ` +
      `p99 ${pct(sorted, 0.99)} ms, max ${sorted[sorted.length - 1]} ms`);
  };

  // Burst: all due 3 s after they are queued (queuing is not measured).
  const queuedAt = Date.now();
  const due = queuedAt + 3000 + JOBS / 20; // time to queue them all first
  await producer.add(Array.from({ length: JOBS }, () => ({ id: randomUUID(), due })));
  const all = await until(JOBS, 600000);
  summary('burst', `, all handled: ${all}, ${(JOBS / ((last - due) / 1000)).toFixed(0)} jobs/s once due`);

  // Steady: RATE jobs/s in ten batches a second, each due when queued.
  lags = [];
  const start = Date.now();
  for (let b = 0; b < SECS * 10; b++) {
    const wait = start + b * 100 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const now = Date.now();
    await producer.add(Array.from({ length: RATE / 10 }, () => ({ id: randomUUID(), due: now })));
  }
  const steady = await until((RATE / 10) * SECS * 10, 120000);
  summary('steady', ` at ${RATE}/s, all handled: ${steady}`);

  const twice = [...seen.values()].filter((c) => c > 1).length;
  console.log(`${kind} exactly once: ${seen.size} jobs, ${twice} handled more than once`);
  workers.forEach((w) => w.kill());
  await producer.close();
}
