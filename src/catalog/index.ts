export * from './types.ts'
export * from './rules.ts'
export * from './catalog.ts'
export * from './state-codec.ts'
