import { builder } from '../graphql/builder.js';

export const UserRef = builder.objectRef<{ id: string }>('User');

UserRef.implement({
  description: 'A customer: one record per person, the single source of truth for their profile.',
  fields: (t) => ({
    id: t.exposeID('id'),
  }),
});

builder.queryField('me', (t) =>
  t.field({
    type: UserRef,
    nullable: true,
    description: 'The user of a user or delegated token; null for any other caller.',
    resolve: () => null,
  }),
);
