export { Listeners, type ListenersInit, type ListenersComponents, type ConfiguredWebhook } from './listeners.ts'
export { type ListenerView, type ListenerEvent, type ListenerSource } from './webhook.ts'
export { encodeStateChangedEvent, encodeChangeEvent, signBody } from './payload.ts'
