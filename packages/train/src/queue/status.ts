import { runsRoot, ValidationError, type StageContext } from '@nerflow/core';
import { resolveExperimentName, resolveTrackingUri } from '@nerflow/tracking';
import { openQueue, type QueueHandle } from './connection.js';
import { queueTrackingUri, readSweepRecord, sweepJobs } from './enqueue.js';
import { configRef, sweepKey, type SweepRecord } from './identity.js';

/**
 * The config's sweep on this queue: the one for the tracking server in force, else (no tracking server set
 * in this shell) the only sweep queued from this config file; several are an error listing them.
 */
async function findSweep(ctx: StageContext, q: QueueHandle): Promise<SweepRecord | null> {
  const uri = resolveTrackingUri({ uri: ctx.config.tracking.uri, root: runsRoot(ctx.root) });
  if (/^https?:\/\//i.test(uri)) {
    const own = await readSweepRecord(
      q,
      sweepKey(ctx.config, ctx.root, queueTrackingUri(ctx), resolveExperimentName(ctx.config.tracking.experiment)),
    );
    if (own) return own;
  }
  const found: SweepRecord[] = [];
  for (const key of await q.redis.keys(`nerflow:sweep:${ctx.config.name}-*`)) {
    if (!/^nerflow:sweep:[^:]+$/.test(key)) continue;
    const r = JSON.parse((await q.redis.get(key)) ?? 'null') as SweepRecord | null;
    if (r && r.config === configRef(ctx.config, ctx.root)) found.push(r);
  }
  if (found.length > 1) {
    throw new ValidationError(
      `${ctx.config.name} was queued for ${found.length} tracking servers or experiments (${found.map((r) => r.trackingUri).join(', ')}): set MLFLOW_TRACKING_URI to the one you mean.`,
    );
  }
  return found[0] ?? null;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r, k) => {
      const line = r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd();
      return k === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

const STATE: Record<string, string> = {
  waiting: 'queued',
  prioritized: 'queued',
  'waiting-children': 'queued',
  delayed: 'retry later',
  active: 'running',
  completed: 'done',
  failed: 'failed',
  missing: 'not queued',
  unknown: 'unknown',
};

/** `nerflow sweep status`: every trial of the config's sweep on the queue (queued, running where and at which epoch, done, pruned, failed) and the best so far. */
export async function sweepStatus(ctx: StageContext, url: string): Promise<string> {
  const q = await openQueue(url);
  try {
    const record = await findSweep(ctx, q);
    if (!record)
      return `${ctx.config.name} has never been queued on ${url}: \`nerflow train --config ${ctx.config.name} --queue ${url}\` queues it.`;
    const sweep = record.sweep;
    const jobs = await sweepJobs(q, record);
    const rows = [['trial', 'settings', 'state', 'worker', 'epoch', record.metric, 'note']];
    const counts: Record<string, number> = {};
    let best: { trial: string; value: number; final: boolean } | null = null;
    for (const j of jobs) {
      const rv = j.state === 'completed' ? j.job!.returnvalue : null;
      const state = rv?.status === 'pruned' ? 'pruned' : (STATE[j.state] ?? j.state);
      counts[state] = (counts[state] ?? 0) + 1;
      const p = j.progress;
      const value = rv ? rv.metric : (p.value ?? null);
      if (
        value !== null &&
        value !== undefined &&
        Number.isFinite(value) &&
        (!best || (record.goal === 'maximize' ? value > best.value : value < best.value))
      )
        best = { trial: j.trial, value, final: !!rv };
      const epoch = rv ? `${rv.epochs}` : j.state === 'active' && p.epochs ? `${p.epoch ?? 0}/${p.epochs}` : '';
      const note =
        j.state === 'failed'
          ? `${j.job!.attemptsMade} attempt(s): ${j.job!.failedReason ?? ''}`.slice(0, 100)
          : j.state === 'active' && p.resumedAfter
            ? `resumed after epoch ${p.resumedAfter}`
            : j.state === 'delayed' || (j.state === 'waiting' && (j.job?.attemptsMade ?? 0) > 0)
              ? `attempt ${(j.job?.attemptsMade ?? 0) + 1}: ${j.job?.failedReason ?? ''}`.slice(0, 100)
              : '';
      rows.push([
        j.trial,
        j.label,
        state,
        j.state === 'active' || rv ? (rv?.worker ?? p.worker ?? '') : '',
        epoch,
        value !== null && value !== undefined ? value.toFixed(4) : '',
        note,
      ]);
    }
    const order = ['queued', 'retry later', 'running', 'done', 'pruned', 'failed', 'not queued'];
    const summary = Object.entries(counts)
      .sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]))
      .map(([s, n]) => `${n} ${s}`)
      .join(', ');
    const bestLine = best
      ? `best so far: ${best.trial} ${record.metric} ${best.value.toFixed(4)}${best.final ? '' : ' (still training)'}`
      : 'best so far: none yet';
    return (
      `sweep ${sweep} (${record.config}) on ${url}, MLflow ${record.trackingUri}${record.parentRunId ? ` parent run ${record.parentRunId}` : ''}\n` +
      `${jobs.length} trials: ${summary}; ${bestLine}\n\n${table(rows)}`
    );
  } finally {
    await q.close();
  }
}
