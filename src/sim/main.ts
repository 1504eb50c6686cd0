#!/usr/bin/env node
/**
 * `npm run sim -- --nodes N --lookups M --seed S [--churn] [--json]`: routing simulation of the
 * real overlay code in virtual time. The same seed prints the same figures (except wall time
 * and memory).
 */
import { Command } from 'commander';
import { DEFAULT_LOOKUP_SIM, runLookupSim } from './lookup-sim.ts';
import { fraction, positiveInt } from './cli-args.ts';



const program = new Command('sim')
  .description('Simulate a Pastry ring in virtual time and route lookups through it')
  .option('--nodes <n>', 'ring size', positiveInt, 1000)
  .option('--lookups <n>', 'lookups to route', positiveInt, 10_000)
  .option('--seed <seed>', 'random seed (same seed, same run)', '1')
  .option('--churn', 'nodes keep joining and leaving during the lookups', false)
  .option('--session-minutes <m>', 'mean session time under churn (virtual minutes)', positiveInt, DEFAULT_LOOKUP_SIM.sessionMinutes)
  .option('--crash-fraction <f>', 'share of departures that are silent crashes', fraction, DEFAULT_LOOKUP_SIM.crashFraction)
  .option('--lookup-rate <n>', 'lookups per virtual second', positiveInt, DEFAULT_LOOKUP_SIM.lookupRate)
  .option('--json', 'print one JSON object', false)
  .parse();

const o = program.opts<{ nodes: number; lookups: number; seed: string; churn: boolean; sessionMinutes: number; crashFraction: number; lookupRate: number; json: boolean }>();
const report = runLookupSim({
  nodes: o.nodes,
  lookups: o.lookups,
  seed: o.seed,
  churn: o.churn,
  sessionMinutes: o.sessionMinutes,
  crashFraction: o.crashFraction,
  lookupRate: o.lookupRate,
});
if (o.json) console.log(JSON.stringify(report));
else for (const [k, v] of Object.entries(report)) console.log(`${k.padEnd(18)} ${v}`);
