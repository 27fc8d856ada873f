/** The heaviest frames of a `node --cpu-prof` profile, by self time: what the README and notes quote. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './process.ts';

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number };
type Profile = { nodes: Node[]; samples: number[]; startTime: number; endTime: number };

/**
 * Self-time share of the top `n` frames of every .cpuprofile in `dir`, merged; by `file`, a frame counts
 * for its package (node_modules) or source file, which shows where the time goes at a glance.
 */
export function topFrames(dir: string, n = 15, by: 'frame' | 'file' = 'frame'): { frame: string; selfPercent: number }[] {
  const self = new Map<string, number>();
  let total = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    for (const id of profile.samples) {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      const path = url.startsWith('file://') ? relative(ROOT, new URL(url).pathname) : url;
      const frame = by === 'file' ? packageOf(path) || functionName : `${functionName || '(anonymous)'} ${path ? `${path}:${lineNumber + 1}` : ''}`.trim();
      self.set(frame, (self.get(frame) ?? 0) + 1);
      total++;
    }
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([frame, hits]) => ({ frame, selfPercent: Math.round((hits / total) * 1000) / 10 }));
}

/** `node_modules/@scope/pkg/...` → `@scope/pkg`; anything else stays the path it is. */
function packageOf(path: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return m ? m[1]! : path;
}
