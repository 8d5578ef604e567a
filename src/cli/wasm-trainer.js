#!/usr/bin/env node
// wasm-trainer's command line: a thin client of the JS API (src/js/wasm-trainer.js).
//   wasm-trainer train [--model NAME|FILE.json] [--epochs N] [--save PATH] [--resume PATH] ...
//   wasm-trainer evaluate CKPT [--data DIR] [--json]
//   wasm-trainer inspect CKPT | --model NAME|FILE.json [--json]
//   wasm-trainer models [--json]
// Any error: one line on stderr, exit code 1, no stack trace (also before the
// build: the JS API says in one line to run "npm run build").
import { Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { createRequire } from 'node:module';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import {
  createTrainer, describeModel, inspectCheckpoint, listPresets, modelDifference, modelOfCheckpoint,
} from '../js/wasm-trainer.js';
import { writeFileAtomic } from './atomic-write.js';
import { giveData, readData, UserError } from './data.js';

const require = createRequire(import.meta.url);

/** A CLI-level error: printed as one line, exit code 1. */

function readCheckpointFile(file) {
  if (!existsSync(file)) throw new UserError(`checkpoint ${file} does not exist`);
  return new Uint8Array(readFileSync(file));
}

const nf = new Intl.NumberFormat('en-US');
const shapeText = (s) => `[${s.join(', ')}]`;

/** --model: a spec file (a path ending in .json or with a folder in it), inline
 *  JSON ("{...}") or else a preset name; validated by the core. Returns its
 *  description (describeModel) and how the user named it. */
async function modelArg(value) {
  let source = value, label = value;
  if (value.trimStart().startsWith('{')) {
    label = 'inline JSON';
  } else if (/\.json$/i.test(value) || value.includes('/') || value.includes(path.sep)) {
    if (!existsSync(value)) throw new UserError(`model file ${value} does not exist`);
    try {
      source = readFileSync(value, 'utf8');
    } catch (e) {
      throw new UserError(`could not read the model file ${value}: ${e.message}`);
    }
  }
  try {
    return { ...(await describeModel(source)), label };
  } catch (e) {
    if (/wasm build is missing/.test(e.message)) throw e;
    throw new UserError(`--model ${label}: ${e.message}`);
  }
}

/** The layer table of a model, in the manner of torchinfo's summary. */
function layerTable(d) {
  const head = ['#', 'Name', 'Type', 'Output Shape', 'Param #', 'FLOPs'];
  const right = [true, false, false, false, true, true];
  const rows = d.layers.map((l) => [String(l.index), l.name, l.type, shapeText(l.shape), nf.format(l.params), nf.format(l.flops)]);
  const total = ['', '', '', 'Total', nf.format(d.totalParams), nf.format(d.totalFlops)];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length), total[i].length));
  const line = (r) => r.map((c, i) => (right[i] ? c.padStart(width[i]) : c.padEnd(width[i]))).join('   ').trimEnd();
  const rule = (ch) => ch.repeat(width.reduce((a, b) => a + b, 0) + 3 * (width.length - 1));
  const out = [
    `Model: ${d.name} · input ${shapeText(d.input)} · ${d.classes} classes`,
    rule('='), line(head), rule('='), ...rows.map(line), rule('-'), line(total), rule('='),
    `Total params: ${nf.format(d.params)}`,
    `Trainable params: ${nf.format(d.params)}`,
  ];
  if (d.buffers) out.push(`Buffers (BatchNorm running statistics, not trained): ${nf.format(d.buffers)}`);
  out.push(
    `Forward FLOPs per image: ${(d.totalFlops / 1e6).toFixed(2)} M`,
    `Params size (MB): ${((d.params * 4) / 1e6).toFixed(2)}`,
    rule('='),
  );
  return out;
}

/** describeModel's result as --json prints it: the spec parsed, not as text. */
function modelJson(d) {
  const { canonical, label, ...rest } = d;
  return { ...rest, spec: JSON.parse(canonical) };
}

// Defaults for the help text only (the trainer takes them from the wasm).
let HELP_DEFAULTS = { hyperparameters: {}, default_model: 'seed' };
try {
  HELP_DEFAULTS = JSON.parse(readFileSync(new URL('../defaults.json', import.meta.url), 'utf8'));
} catch { /* help shows no numbers */ }
const dflt = (key) => (HELP_DEFAULTS.hyperparameters?.[key] !== undefined ? ` (default ${HELP_DEFAULTS.hyperparameters[key]})` : '');

const int = (name, min) => (v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};
const positive = (name) => (v) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};

function fmtTime(s) {
  if (!Number.isFinite(s)) return '--:--';
  s = Math.round(s);
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  const pad = (x) => String(x).padStart(2, '0');
  return h ? `${h}:${pad(m % 60)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

async function train(opts) {
  const json = !!opts.json;
  const log = (line) => { if (!json) console.log(line); };
  // The model: --model, else a resumed checkpoint's, else the default (seed).
  let model = opts.model !== undefined ? await modelArg(opts.model) : null;
  let checkpoint = null;
  if (opts.resume) {
    checkpoint = readCheckpointFile(opts.resume);
    const stored = await modelOfCheckpoint(checkpoint);
    if (model) {
      const diff = await modelDifference(model.canonical, stored.canonical);
      if (diff) {
        throw new UserError(`--model ${model.label} conflicts with the checkpoint's model (${stored.name}): ${diff.replace(/\.?$/, '.')} A resumed run keeps its model: drop --model`);
      }
    }
    model = stored;
  }
  const data = await readData(opts.data);
  const trainer = await createTrainer({
    model: model?.canonical, seed: opts.seed, learningRate: opts.lr, batchSize: opts.batchSize, threads: opts.threads,
  });
  const m = trainer.model;
  log(`   model ${m.name}: ${nf.format(m.params)} parameters, input ${shapeText(m.input)}, ${m.classes} classes`);
  giveData(trainer, data, { trainLimit: opts.trainLimit ?? 0, testLimit: opts.testLimit ?? 0 });
  log(`   data ${data.name}: ${nf.format(trainer.progress().trainCount)} training and ${nf.format(trainer.progress().testCount)} test images`);
  if (checkpoint) {
    log('=> Loading checkpoint');
    trainer.loadCheckpoint(checkpoint);
    const c = trainer.config;
    for (const [flag, key] of [['seed', 'seed'], ['lr', 'learningRate'], ['batchSize', 'batchSize']]) {
      if (opts[flag] !== undefined && opts[flag] !== c[key]) {
        throw new UserError(`--${flag === 'batchSize' ? 'batch-size' : flag} ${opts[flag]} conflicts with the checkpoint's ${c[key]}: a resumed run keeps its hyperparameters`);
      }
    }
    const p = trainer.progress();
    log(`   resumed at epoch ${p.epoch}, step ${p.step} (${p.epochStep}/${p.stepsPerEpoch} into the epoch)`);
  }
  const save = () => {
    if (!opts.save) return;
    log('=> Saving checkpoint');
    writeFileAtomic(opts.save, trainer.saveCheckpoint());
  };

  let interrupted = false;
  const onSignal = () => { interrupted = true; };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const showBar = !json && process.stderr.isTTY;
  const bar = showBar ? new cliProgress.SingleBar({
    format: ' {bar} {percentage}% | {value}/{total} batches | {rate} it/s | {elapsedF}<{etaF}',
    barCompleteChar: '█', barIncompleteChar: '░', hideCursor: true, clearOnComplete: false, stream: process.stderr,
  }) : null;

  const maxSteps = opts.maxSteps ?? Infinity;
  let stepsThisRun = 0, epochsDone = 0;
  const CHUNK = 8; // steps per wasm call: short calls let V8 tier up (TOOLCHAIN.md)
  while (epochsDone < opts.epochs && stepsThisRun < maxSteps && !interrupted) {
    const start = trainer.progress();
    const t0 = performance.now();
    const firstStep = start.epochStep;
    bar?.start(start.stepsPerEpoch, start.epochStep, { rate: '0.0', elapsedF: '00:00', etaF: '--:--' });
    let ended = null;
    while (!ended && stepsThisRun < maxSteps && !interrupted) {
      const r = trainer.trainSteps(Math.min(CHUNK, maxSteps - stepsThisRun));
      stepsThisRun += r.steps;
      if (r.epochEnded) ended = r;
      const sec = (performance.now() - t0) / 1000;
      const rate = (r.epochEnded ? r.stepsPerEpoch : r.epochStep) - firstStep;
      const done = r.epochEnded ? r.stepsPerEpoch : r.epochStep;
      bar?.update(done, {
        rate: (rate / sec).toFixed(1), elapsedF: fmtTime(sec),
        etaF: fmtTime(((r.stepsPerEpoch - done) * sec) / Math.max(rate, 1)),
      });
      await new Promise((res) => setImmediate(res)); // lets SIGINT through
    }
    bar?.stop();
    if (!ended) break;
    epochsDone++;
    const sec = (performance.now() - t0) / 1000;
    const ev = trainer.evaluate({ recordEpoch: true });
    const p = trainer.progress();
    const samples = Math.min(p.trainCount, (p.stepsPerEpoch - firstStep) * trainer.config.batchSize);
    if (json) {
      console.log(JSON.stringify({
        epoch: p.epoch - 1, step: p.step, loss: ended.epochLoss, test_loss: ev.loss, test_accuracy: ev.accuracy,
        samples_per_second: samples / sec, seconds: sec,
      }));
    } else {
      console.log(`Loss at epoch ${p.epoch - 1} was ${ended.epochLoss.toFixed(5)}  (test loss ${ev.loss.toFixed(5)}, test accuracy ${(100 * ev.accuracy).toFixed(2)}%, ${Math.round(samples / sec)} samples/s)`);
    }
    save();
  }
  const p = trainer.progress();
  if (interrupted) log(`interrupted at step ${p.step}`);
  else if (stepsThisRun >= maxSteps && epochsDone < opts.epochs) log(`stopped after --max-steps ${maxSteps} at step ${p.step} (${p.epochStep}/${p.stepsPerEpoch} into epoch ${p.epoch})`);
  // The end-of-run save (after an epoch end it repeats the epoch's save, which is cheap).
  if (p.epochStep !== 0 || epochsDone === 0) save();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  trainer.dispose();
  if (interrupted) process.exitCode = 130;
}

async function evaluate(ckpt, opts) {
  const bytes = readCheckpointFile(ckpt);
  const model = await modelOfCheckpoint(bytes);
  const data = await readData(opts.data);
  const trainer = await createTrainer({ model: model.canonical });
  // Checkpoint first: evaluating does not need the training data it was made with.
  trainer.loadCheckpoint(bytes);
  giveData(trainer, data, { testLimit: opts.testLimit ?? 0 });
  const ev = trainer.evaluate();
  if (opts.json) console.log(JSON.stringify({ loss: ev.loss, accuracy: ev.accuracy, count: ev.count }));
  else console.log(`Test loss ${ev.loss.toFixed(5)}, accuracy ${(100 * ev.accuracy).toFixed(2)}% on ${ev.count} images`);
  trainer.dispose();
}

async function inspect(ckpt, opts) {
  if (ckpt !== undefined && opts.model !== undefined) throw new UserError('inspect takes a checkpoint or --model, not both');
  if (ckpt === undefined && opts.model === undefined) throw new UserError('inspect needs a checkpoint file or --model NAME|FILE.json');
  if (ckpt === undefined) {
    const d = await modelArg(opts.model);
    if (opts.json) console.log(JSON.stringify(modelJson(d)));
    else for (const l of layerTable(d)) console.log(l);
    return;
  }
  const bytes = readCheckpointFile(ckpt);
  const info = await inspectCheckpoint(bytes);
  // A trainer of the checkpoint's model validates the whole state and exposes the history.
  let model = null, trainer = null, history = null, loadError = null;
  try {
    model = await modelOfCheckpoint(bytes);
    trainer = await createTrainer({ model: model.canonical });
    trainer.loadCheckpoint(bytes);
    history = trainer.history();
  } catch (e) {
    if (/wasm build is missing/.test(e.message)) throw e;
    loadError = e.message;
  }
  if (opts.json) {
    console.log(JSON.stringify({
      file: ckpt, bytes: bytes.length, metadata: info.metadata, tensors: info.tensors, valid: !loadError, error: loadError,
      model: model && modelJson(model),
      history: history && Object.fromEntries(Object.entries(history).map(([k, v]) => [k, Array.from(v)])),
    }));
    trainer?.dispose();
    return;
  }
  console.log(`${ckpt}: ${bytes.length} bytes, ${loadError ? `NOT loadable: ${loadError}` : 'valid wasm-trainer checkpoint'}`);
  if (model) for (const l of layerTable(model)) console.log(l);
  console.log('metadata:');
  for (const [k, v] of Object.entries(info.metadata)) console.log(`  ${k.padEnd(18)} ${k === 'spec' && model ? '(the model above)' : v}`);
  // Value statistics of the model and optimizer tensors (from the validated state).
  const values = history ? trainer.tensors() : {};
  const stats = (a) => {
    let min = Infinity, max = -Infinity, sum = 0, sq = 0;
    for (const x of a) { min = Math.min(min, x); max = Math.max(max, x); sum += x; sq += x * x; }
    const g = (x) => x.toPrecision(4).padStart(11);
    return `min ${g(min)}  max ${g(max)}  mean ${g(sum / a.length)}  rms ${g(Math.sqrt(sq / a.length))}`;
  };
  console.log('tensors:');
  for (const t of info.tensors) {
    const v = values[t.name];
    const shown = v instanceof BigInt64Array && v.length === 1 ? `  value ${v[0]}` : v && v.length ? `  ${stats(v)}` : '';
    console.log(`  ${t.name.padEnd(38)} ${t.dtype} ${`[${t.shape.join(', ')}]`.padEnd(14)}${shown}`);
  }
  if (history) {
    const fmt = (a, f) => Array.from(a, f).join(' ') || '(none)';
    console.log('history:');
    console.log(`  steps recorded      ${history.stepLoss.length}` + (history.stepLoss.length ? `, last step loss ${history.stepLoss[history.stepLoss.length - 1].toFixed(4)}, accuracy ${(100 * history.stepAccuracy[history.stepAccuracy.length - 1]).toFixed(1)}%` : ''));
    console.log(`  epoch loss          ${fmt(history.epochLoss, (x) => x.toFixed(4))}`);
    console.log(`  epoch test loss     ${fmt(history.epochTestLoss, (x) => x.toFixed(4))}`);
    console.log(`  epoch test accuracy ${fmt(history.epochTestAccuracy, (x) => `${(100 * x).toFixed(2)}%`)}`);
  }
  trainer?.dispose();
}

async function models(opts) {
  const presets = await listPresets();
  if (opts.json) {
    console.log(JSON.stringify(presets));
    return;
  }
  const head = ['Model', 'Input', 'Classes', 'Params', 'FLOPs/image', 'Description'];
  const right = [false, false, true, true, true, false];
  const rows = presets.map((p) => [p.default ? `${p.name} (default)` : p.name, shapeText(p.input), String(p.classes),
    nf.format(p.params), `${(p.flops / 1e6).toFixed(2)} M`, p.description]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (right[i] ? c.padStart(width[i]) : c.padEnd(width[i]))).join('   ').trimEnd();
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log('Train one with: wasm-trainer train --model NAME (or a spec file: --model FILE.json); see its layers: wasm-trainer inspect --model NAME');
}

const program = new Command();
program.name('wasm-trainer')
  .description('Train a neural network (the seed CNN, a preset or your own layer list) in WebAssembly, with checkpoints you can trust.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();
program.command('train').description('train (or resume) and save checkpoints')
  .option('--epochs <n>', 'epoch ends to reach in this invocation', int('--epochs', 0), 3)
  .option('--max-steps <n>', 'stop after N optimizer steps of this invocation, and save', int('--max-steps', 1))
  .option('--model <name|file>', `a preset (wasm-trainer models) or a spec file .json (default ${HELP_DEFAULTS.default_model ?? 'seed'}; a resumed run keeps its checkpoint's)`)
  .option('--batch-size <n>', `images per step${dflt('batch_size')}`, int('--batch-size', 1))
  .option('--lr <x>', `Adam learning rate${dflt('learning_rate')}`, positive('--lr'))
  .option('--seed <n>', `seed of the initialization, the data order and Dropout${dflt('seed')}`, int('--seed', 0))
  .option('--data <name|dir|file>', 'a built-in dataset (mnist, fashion-mnist), a folder with four IDX files (plain or .gz) or CIFAR-10 batches, or cifar-10-binary.tar.gz (default: mnist)')
  .option('--train-limit <n>', 'use only the first N training images', int('--train-limit', 1))
  .option('--test-limit <n>', 'use only the first N test images', int('--test-limit', 1))
  .option('--threads <n>', 'threads per batch (results are identical for any count)', int('--threads', 1), Math.min(4, availableParallelism()))
  .option('--save <path>', 'checkpoint written at the end of every epoch and at the end')
  .option('--resume <path>', 'checkpoint to resume from')
  .option('--json', 'one JSON line per epoch')
  .action(train);
program.command('evaluate').description('test loss and accuracy of a checkpoint').argument('<ckpt>')
  .option('--data <name|dir|file>', 'as for train (default: mnist)')
  .option('--test-limit <n>', 'use only the first N test images', int('--test-limit', 1))
  .option('--json', 'one JSON line with loss and accuracy')
  .action(evaluate);
program.command('inspect').description("a model's layer table; a checkpoint's also metadata, tensors and history").argument('[ckpt]')
  .option('--model <name|file>', 'a preset or a spec file .json instead of a checkpoint')
  .option('--json', 'machine-readable output')
  .action(inspect);
program.command('models').description('the preset models with their input shapes and parameter counts')
  .option('--json', 'machine-readable output')
  .action(models);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e?.code?.startsWith?.('commander.')) {
    // commander already printed its message (or help/version, exit code 0).
    process.exitCode = e.exitCode ?? 1;
  } else {
    console.error(`wasm-trainer: error: ${e?.message ?? e}`);
    process.exitCode = 1;
  }
}
