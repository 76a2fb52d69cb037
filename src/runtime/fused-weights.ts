/**
 * Which of a model's weights are concatenated after loading so that one kernel reads them: each
 * layer's Q, K and V (one mat-vec writing q, k and v) and its gate and up (one mat-vec storing
 * act(gate)·up). A group whose members cannot share a buffer (types or row sizes differ, or too
 * big for one binding) stays as it is, and the forward pass runs its members one by one — except
 * that Q and K are still fused when only V differs (attn_v is Q6_K in some Q4_K_M layers).
 */
import type { GpuContext } from '../gpu/device.ts';
import { concatWeightRows, type GpuWeight, planConcatRows } from '../gpu/weights.ts';
import type { ModelTensorNames } from '../model/tensors.ts';

/** The name of the weight concatenating `members` by rows. */
export function fusedWeightName(members: readonly string[]): string {
  return members.join('+');
}

/** The weights a name stands for: the members of a fused weight (fusedWeightName), else the name itself. */
export function fusedWeightMembers(name: string): string[] {
  return name.split('+');
}

/**
 * Each layer's groups, as alternatives tried in order: [q, k, v] else [q, k]; and [gate, up]
 * unless a per-tensor scale tensor multiplies gate or up (the scale must come before the
 * activation, and it lives on the GPU).
 */
export function projectionGroups(names: ModelTensorNames): string[][][] {
  return names.layers.flatMap((L) => {
    const groups = [
      [
        [L.q, L.k, L.v],
        [L.q, L.k],
      ],
    ];
    if (!L.scales.gate && !L.scales.up) groups.push([[L.gate, L.up]]);
    return groups;
  });
}

function members<B>(weights: ReadonlyMap<string, GpuWeight<B>>, group: readonly string[]): GpuWeight<B>[] | null {
  const found = group.map((n) => weights.get(n));
  return found.every((w) => w !== undefined) ? (found as GpuWeight<B>[]) : null;
}

/**
 * Concatenates every fusable group of `weights` on the GPU, replacing its members in the map by
 * the fused weight (members' buffers freed). Buffers of at most `maxBytes`.
 */
export async function fuseProjections(
  ctx: GpuContext,
  weights: Map<string, GpuWeight>,
  names: ModelTensorNames,
  maxBytes: number,
): Promise<void> {
  for (const alternatives of projectionGroups(names)) {
    for (const group of alternatives) {
      const ws = members(weights, group);
      const fused = ws && (await concatWeightRows(ctx, fusedWeightName(group), ws, maxBytes));
      if (!fused) continue;
      for (const n of group) weights.delete(n);
      weights.set(fused.name, fused);
      break;
    }
  }
}

/** What fuseProjections makes of planned weights (no buffers), for describing pipelines ahead. */
export function planFusedWeights(planned: readonly GpuWeight<null>[], names: ModelTensorNames, maxBytes: number): GpuWeight<null>[] {
  const byName = new Map(planned.map((w) => [w.name, w]));
  for (const alternatives of projectionGroups(names)) {
    for (const group of alternatives) {
      const ws = members(byName, group);
      const fused = ws && planConcatRows(fusedWeightName(group), ws, maxBytes);
      if (!fused) continue;
      for (const n of group) byName.delete(n);
      byName.set(fused.name, fused);
      break;
    }
  }
  return [...byName.values()];
}
