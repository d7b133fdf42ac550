/**
 * The replica's copy of the model topology. A replica's weights always come from shared memory
 * (Replica.loadWeights, before any use), so the initialisers the user's layers name would only
 * cost start-up: an LSTM's Orthogonal recurrent initialiser runs a QR decomposition in every
 * worker (sentiment's LSTM: ~0.4 s each). Every `*_initializer` becomes Zeros in the copy; the
 * coordinator's model, its checkpoints and its model.json keep the user's.
 */
const ZEROS = { class_name: 'Zeros', config: {} } as const;

export function withZeroInitializers(topology: unknown): unknown {
  if (Array.isArray(topology)) return topology.map(withZeroInitializers);
  if (topology === null || typeof topology !== 'object') return topology;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(topology)) {
    const isInitializer = key.endsWith('_initializer') && value !== null && typeof value === 'object' && 'class_name' in value;
    out[key] = isInitializer ? ZEROS : withZeroInitializers(value);
  }
  return out;
}
