/** The pino logger factory: one root logger per process, a `child({ component })` per part. */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type LogFormat = 'pretty' | 'json';

export interface LoggerOptions {
  level?: LevelWithSilent;
  format?: LogFormat;
  /** Where to write; default stderr (stdout is for results and progress). */
  destination?: number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const destination = opts.destination ?? 2;
  if ((opts.format ?? 'json') === 'pretty') {
    return pino({
      level,
      transport: {
        target: 'pino-pretty',
        options: { destination, colorize: process.stderr.isTTY === true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' },
      },
    });
  }
  return pino({ level, base: undefined }, pino.destination({ dest: destination, sync: true }));
}

/** A logger that drops everything (library default: parallelFit is silent unless asked). */
export const silentLogger: Logger = pino({ level: 'silent' });

export type { Logger, LevelWithSilent };
