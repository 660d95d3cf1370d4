// Every scenario the harness ships, by name.
import type { ScenarioDefinition } from '../scenario.ts';
import { memfdBasic } from './memfd-basic.ts';
import { memfdSizes } from './memfd-sizes.ts';
import { multiSession } from './multi-session.ts';
import { upgrade } from './upgrade.ts';
import { iommufdVfio } from './iommufd-vfio.ts';
import { unpreserveOnClose } from './unpreserve-on-close.ts';
import { negativeControl } from './negative-control.ts';
import { cycles } from './cycles.ts';
import { memfdLateWrites } from './memfd-late-writes.ts';
import { vmSurvives } from './vm-survives.ts';

export const SCENARIOS: Record<string, ScenarioDefinition> = Object.fromEntries(
  [memfdBasic, memfdLateWrites, memfdSizes, multiSession, upgrade, iommufdVfio, unpreserveOnClose, negativeControl, cycles, vmSurvives].map((s) => [s.name, s]),
);
