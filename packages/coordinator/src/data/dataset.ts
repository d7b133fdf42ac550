/** Puts a data set into ONE SharedArrayBuffer (layout.ts decides where), so workers read rows without copies. */
import { datasetLayout, tensorView, type DatasetLayout, type DecodeSpec } from '@threadfit/shared';
import type { ImageDataset } from './mnist.js';

export interface SharedDataset {
  buffer: SharedArrayBuffer;
  layout: DatasetLayout;
  decode: DecodeSpec;
  trainCount: number;
  testCount: number;
}

export function shareImageDataset(ds: ImageDataset): SharedDataset {
  const feature = ds.train.rows * ds.train.cols;
  const split = (count: number) => ({ count, inputs: [{ dtype: 'uint8' as const, shape: [feature] }], targets: [{ dtype: 'uint8' as const, shape: [1] }] });
  const layout = datasetLayout({ train: split(ds.train.count), test: split(ds.test.count) });
  const buffer = new SharedArrayBuffer(layout.bytes);
  for (const [name, src] of [
    ['train', ds.train],
    ['test', ds.test],
  ] as const) {
    const s = layout.splits[name];
    tensorView(buffer, s.inputs[0]).set(src.images);
    tensorView(buffer, s.targets[0]).set(src.labels);
  }
  return { buffer, layout, decode: { inputScale: 1 / 255, oneHot: ds.numClasses }, trainCount: ds.train.count, testCount: ds.test.count };
}
