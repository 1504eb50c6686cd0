#!/usr/bin/env node
/** Entry point of the `pi` command. */
import { processIo } from './output.ts';
import { runCli } from './program.ts';

const code = await runCli(process.argv.slice(2), processIo());
// `pi start` and `pi up` return once their node(s) stopped; nothing else should keep us alive.
process.exit(code);
