import type { ApolloServerPlugin } from '@apollo/server';
import type { Context } from '../graphql/context.js';
import { auditCaller } from './audit.service.js';

/**
 * Writes one `profile.read` event per request and user, listing the fields read and refused, once
 * the response is ready. Reads change no state, so their events go through the buffered writer
 * rather than holding up the response.
 */
export function auditReadsPlugin(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue: ctx }) {
          // One caller for the request's events, as many as the users a page shows.
          const caller = auditCaller(ctx.principal, ctx.requestId);
          for (const { userId, fieldsRead, fieldsDenied, reasons } of ctx.access.subjects()) {
            ctx.services.audit.record({
              action: 'profile.read',
              ...caller,
              subjectUserId: userId,
              fieldsRead,
              fieldsDenied,
              decision: fieldsRead.length > 0 ? 'ALLOW' : 'DENY',
              reason: reasons.length > 0 ? reasons.join(' ') : null,
            });
          }
        },
      };
    },
  };
}
