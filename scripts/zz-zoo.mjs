import { measureInChild } from '../packages/coordinator/dist/bench/runner.js';
const [model, backend, samples, epochs, batch, ...modes] = process.argv.slice(2);
for (const m of modes) {
  const [mode, w] = m.split(':');
  const cfg = { kind: 'zoo', model, mode, backend, workers: Number(w ?? 1), batchSize: Number(batch), epochs: Number(epochs), samples: Number(samples), repeats: 1, seed: 42 };
  const r = await measureInChild(cfg, (t) => {});
  console.log(model, backend, m, `total ${(r.totalMs/1000).toFixed(2)} s startup ${(r.startupMs/1000).toFixed(2)} s  ${Math.round(r.samplesPerSec)} samples/s rss ${Math.round(r.peakRssMb)}`);
}
