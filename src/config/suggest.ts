// Moved to lib/suggest.ts (static discovery uses it too; discovery/ may not import config/).
export { didYouMean, nearest } from '../lib/suggest.ts'
