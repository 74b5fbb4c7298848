import { builder } from './builder.js';
import '../identity/user.schema.js';

/** The executable schema: every domain's types, registered by import. */
export const schema = builder.toSchema({ sortSchema: true });
