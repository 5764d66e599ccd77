export * from './time.ts'
export * from './status.ts'
export * from './service.ts'
export * from './codec.ts'
