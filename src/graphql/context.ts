import type { Principal } from '../authz/principal.js';
import type { Services } from '../app.js';

/** What every resolver receives: built once per request, never shared between requests. */
export interface Context {
  readonly requestId: string;
  readonly principal: Principal;
  readonly services: Services;
}
