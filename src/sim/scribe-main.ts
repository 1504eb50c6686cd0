#!/usr/bin/env node
/**
 * `npm run sim:scribe -- --nodes N --topics T --seed S [--churn] [--json]`: publish/subscribe and
 * anycast over the real Scribe and overlay code in virtual time. The same seed prints the same
 * figures (except wall time and memory).
 */
import { Command } from 'commander';
import { DEFAULT_SCRIBE_SIM, runScribeSim } from './scribe-sim.ts';
import { fraction, positiveInt } from './cli-args.ts';



const program = new Command('sim:scribe')
  .description('Simulate Scribe topic trees in virtual time: subscribe, publish, randomAnycast, optionally under churn')
  .option('--nodes <n>', 'ring size', positiveInt, 1000)
  .option('--topics <n>', 'topics', positiveInt, 50)
  .option('--seed <seed>', 'random seed (same seed, same run)', '1')
  .option('--churn', 'nodes keep joining, leaving and crashing during publishes and anycasts', false)
  .option('--share <f>', 'mean share of nodes subscribed to a topic', fraction, DEFAULT_SCRIBE_SIM.share)
  .option('--willing <f>', 'share of subscribers that accept anycasts', fraction, DEFAULT_SCRIBE_SIM.willing)
  .option('--publishes <n>', 'publishes per topic', positiveInt, DEFAULT_SCRIBE_SIM.publishesPerTopic)
  .option('--anycasts <n>', 'randomAnycasts per willing subscriber of a topic', positiveInt, DEFAULT_SCRIBE_SIM.anycastsPerSubscriber)
  .option('--seconds <s>', 'virtual seconds over which publishes and anycasts are spread (churn goes on meanwhile)', positiveInt, DEFAULT_SCRIBE_SIM.phaseSeconds)
  .option('--session-minutes <m>', 'mean session time under churn (virtual minutes)', positiveInt, DEFAULT_SCRIBE_SIM.sessionMinutes)
  .option('--crash-fraction <f>', 'share of departures that are silent crashes', fraction, DEFAULT_SCRIBE_SIM.crashFraction)
  .option('--json', 'print one JSON object', false)
  .parse();

const o = program.opts<{
  nodes: number;
  topics: number;
  seed: string;
  churn: boolean;
  share: number;
  willing: number;
  publishes: number;
  anycasts: number;
  seconds: number;
  sessionMinutes: number;
  crashFraction: number;
  json: boolean;
}>();
const report = await runScribeSim({
  ...DEFAULT_SCRIBE_SIM,
  nodes: o.nodes,
  topics: o.topics,
  seed: o.seed,
  churn: o.churn,
  share: o.share,
  willing: o.willing,
  publishesPerTopic: o.publishes,
  anycastsPerSubscriber: o.anycasts,
  phaseSeconds: o.seconds,
  sessionMinutes: o.sessionMinutes,
  crashFraction: o.crashFraction,
});
if (o.json) console.log(JSON.stringify(report));
else for (const [k, v] of Object.entries(report)) console.log(`${k.padEnd(22)} ${v}`);
