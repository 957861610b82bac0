import type { StageContext } from '@nerflow/core';
import { resolveExperimentName } from '@nerflow/tracking';
import { openQueue } from './connection.js';
import { queueTrackingUri, readSweepRecord, sweepJobs } from './enqueue.js';
import { sweepKey } from './identity.js';

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r, k) => {
    const line = r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
    return k === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

const STATE: Record<string, string> = { waiting: 'queued', prioritized: 'queued', 'waiting-children': 'queued', delayed: 'retry later', active: 'running', completed: 'done', failed: 'failed', missing: 'not queued', unknown: 'unknown' };

/** `nerflow sweep status`: every trial of the config's sweep on the queue (queued, running where and at which epoch, done, pruned, failed) and the best so far. */
export async function sweepStatus(ctx: StageContext, url: string): Promise<string> {
  const trackingUri = queueTrackingUri(ctx);
  const sweep = sweepKey(ctx.config, ctx.root, trackingUri, resolveExperimentName(ctx.config.tracking.experiment));
  const q = await openQueue(url);
  try {
    const record = await readSweepRecord(q, sweep);
    if (!record) return `sweep ${sweep} (${ctx.config.name}) has never been queued on ${url}: \`nerflow train --config ${ctx.config.name} --queue ${url}\` queues it.`;
    const jobs = await sweepJobs(q, record);
    const rows = [['trial', 'settings', 'state', 'worker', 'epoch', record.metric, 'note']];
    const counts: Record<string, number> = {};
    let best: { trial: string; value: number; final: boolean } | null = null;
    for (const j of jobs) {
      const rv = j.state === 'completed' ? j.job!.returnvalue : null;
      const state = rv?.status === 'pruned' ? 'pruned' : STATE[j.state] ?? j.state;
      counts[state] = (counts[state] ?? 0) + 1;
      const p = j.progress;
      const value = rv ? rv.metric : p.value ?? null;
      if (value !== null && value !== undefined && Number.isFinite(value) && (!best || (record.goal === 'maximize' ? value > best.value : value < best.value))) best = { trial: j.trial, value, final: !!rv };
      const epoch = rv ? `${rv.epochs}` : j.state === 'active' && p.epochs ? `${p.epoch ?? 0}/${p.epochs}` : '';
      const note = j.state === 'failed' ? `${j.job!.attemptsMade} attempt(s): ${j.job!.failedReason ?? ''}`.slice(0, 100)
        : j.state === 'active' && p.resumedAfter ? `resumed after epoch ${p.resumedAfter}`
          : j.state === 'delayed' || (j.state === 'waiting' && (j.job?.attemptsMade ?? 0) > 0) ? `attempt ${(j.job?.attemptsMade ?? 0) + 1}: ${j.job?.failedReason ?? ''}`.slice(0, 100) : '';
      rows.push([j.trial, j.label, state, j.state === 'active' || rv ? (rv?.worker ?? p.worker ?? '') : '', epoch, value !== null && value !== undefined ? value.toFixed(4) : '', note]);
    }
    const order = ['queued', 'retry later', 'running', 'done', 'pruned', 'failed', 'not queued'];
    const summary = Object.entries(counts).sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0])).map(([s, n]) => `${n} ${s}`).join(', ');
    const bestLine = best ? `best so far: ${best.trial} ${record.metric} ${best.value.toFixed(4)}${best.final ? '' : ' (still training)'}` : 'best so far: none yet';
    return `sweep ${sweep} (${record.config}) on ${url}, MLflow ${record.trackingUri}${record.parentRunId ? ` parent run ${record.parentRunId}` : ''}\n` +
      `${jobs.length} trials: ${summary}; ${bestLine}\n\n${table(rows)}`;
  } finally {
    await q.close();
  }
}
