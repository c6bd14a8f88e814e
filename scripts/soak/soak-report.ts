// The soak's result as a Markdown table (what the README shows): counts, memory per replica,
// and each invariant with PASS or FAIL and the numbers behind it.

export interface Invariant {
  name: string;
  pass: boolean;
  detail: string;
}

export interface ReplicaRow {
  name: string;
  baselineRssBytes: number;
  peakRssBytes: number;
  finalRssBytes: number;
  baselineHeapBytes: number;
  finalHeapBytes: number;
  sessionsServed: number;
  exit: string;
}

export interface SoakSummary {
  settings: string[];
  attempted: number;
  relayed: number;
  refused: Map<string, number>;
  endedGateway: Map<string, number>;
  endedClient: Map<string, number>;
  faults: Map<string, number>;
  replicas: ReplicaRow[];
  invariants: Invariant[];
  durationS: number;
}

const MiB = 1024 * 1024;
// A replica stopped mid-run has no final reading: '–'.
const mib = (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / MiB).toFixed(1)}` : '–');

function counts(map: Map<string, number>): string {
  return [...map.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join('; ') || 'none';
}

/** Renders the summary; the caller prints it. */
export function renderReport(s: SoakSummary): string {
  const lines: string[] = [];
  lines.push(`soak: ${s.durationS.toFixed(0)} s of load; ${s.settings.join(', ')}`, '');
  lines.push('| measure | value |', '|---|---|');
  lines.push(`| sessions attempted | ${s.attempted} |`);
  lines.push(`| relayed (first echo verified) | ${s.relayed} |`);
  lines.push(`| refused, by close code / HTTP status | ${counts(s.refused)} |`);
  lines.push(`| ended, by the gateway's audit reason (close code) | ${counts(s.endedGateway)} |`);
  lines.push(`| ended, as the client saw it (fault: close code) | ${counts(s.endedClient)} |`);
  lines.push(`| faults injected | ${counts(s.faults)} |`);
  lines.push('', '| replica | sessions | RSS baseline / peak / final, MiB | heap after GC baseline / final, MiB | exit |', '|---|---|---|---|---|');
  for (const r of s.replicas) {
    lines.push(`| ${r.name} | ${r.sessionsServed} | ${mib(r.baselineRssBytes)} / ${mib(r.peakRssBytes)} / ${mib(r.finalRssBytes)} | ${mib(r.baselineHeapBytes)} / ${mib(r.finalHeapBytes)} | ${r.exit} |`);
  }
  lines.push('', '| invariant | result | detail |', '|---|---|---|');
  for (const i of s.invariants) lines.push(`| ${i.name} | ${i.pass ? 'PASS' : '**FAIL**'} | ${i.detail} |`);
  return lines.join('\n');
}
