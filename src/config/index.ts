// Configuration: defaults (each with a reason), schema + validation, file/env/flag layering.
export type * from './types.ts'
export { loadConfig, type ConfigOverrides, type LoadOptions, type LoadedConfig } from './load.ts'
export { formatConfig, type FormatOptions } from './format.ts'
export { parseDuration, formatDuration, MAX_TIMER_MS } from './duration.ts'
export { DEFAULTS } from './defaults.ts'
export { SCHEMA, SECTIONS, ENV_PREFIX, CONFIG_FILE_ENV, envName, type KeySpec, type FlagSpec, type SectionName } from './schema.ts'
