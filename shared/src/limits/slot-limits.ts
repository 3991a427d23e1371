/** Caps on the sandboxes alive at once across all dispatchers; an absent cap is no cap. */
export interface SlotLimits {
  /** The whole pool (`AGENTQ_MAX_RUNNING`). */
  global?: number;
  /** By team (`AGENTQ_TEAM_MAX_RUNNING`, its `team:n` entries). */
  team: Record<string, number>;
  /** Every team not in `team` (its `*:n` entry). */
  otherTeams?: number;
  /** Any one repository (`AGENTQ_REPO_MAX_RUNNING`). */
  repo?: number;
}

export const NO_SLOT_LIMITS: SlotLimits = { team: {} };

/** The cap of a team, if it has one. */
export function teamLimit(limits: SlotLimits, team: string): number | undefined {
  return limits.team[team] ?? limits.otherTeams;
}

/** The limits as the slot scripts read them: `{g, t, d, r}`, -1 for no cap. */
export function encodeSlotLimits(limits: SlotLimits): string {
  return JSON.stringify({ g: limits.global ?? -1, t: limits.team, d: limits.otherTeams ?? -1, r: limits.repo ?? -1 });
}
