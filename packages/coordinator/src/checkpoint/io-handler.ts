/**
 * A tfjs IOHandler for a checkpoint directory, for Node without @tensorflow/tfjs-node (plain
 * @tensorflow/tfjs has no file:// handler):
 *
 *   const model = await tf.loadLayersModel(checkpointIOHandler('ckpts/ckpt-000469'));
 *
 * gives the model compiled with the checkpoint's loss, metrics and optimizer, its weights and
 * (except Adamax) the optimizer state. With tfjs-node, tf.loadLayersModel('file://.../model.json')
 * reads the same files. Checksums are verified against meta.json first (ERR_THREADFIT_CHECKSUM).
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { CHECKPOINT_FILES, sha256 } from './format.js';
import { CorruptCheckpointError, readCheckpointMeta } from './read.js';

/** `path`: a checkpoint directory or its model.json. */
export function checkpointIOHandler(path: string): tfTypes.io.IOHandler {
  const dir = basename(path) === CHECKPOINT_FILES.model ? dirname(path) : path;
  return {
    async load(): Promise<tfTypes.io.ModelArtifacts> {
      const name = basename(dir);
      const meta = await readCheckpointMeta(dir, name);
      const read = async (file: string): Promise<Buffer> => {
        const bytes = await readFile(join(dir, file));
        if (meta.files[file]?.sha256 !== sha256(bytes)) throw new CorruptCheckpointError(name, `${file} checksum mismatch`);
        return bytes;
      };
      const json = JSON.parse((await read(CHECKPOINT_FILES.model)).toString('utf8')) as tfTypes.io.ModelJSON;
      const parts: Buffer[] = [];
      for (const group of json.weightsManifest) for (const p of group.paths) parts.push(await read(p));
      const all = Buffer.concat(parts);
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        trainingConfig: json.trainingConfig,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        // A fresh ArrayBuffer holding exactly the bytes (a Buffer may sit in a larger pool).
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
      };
    },
  };
}
