import { builder } from '../graphql/builder.js';
import { connectionRef } from '../graphql/connection.js';
import { readAudienceRequest } from './audience.fields.js';
import { AudienceConnectionRef, AudienceFilterInput, answeredRefusal, audienceCaller } from './audience.schema.js';
import { queryAudience } from './audience.service.js';
import { createSavedAudience, deleteSavedAudience, findSavedAudience, listSavedAudiences, type SavedAudience } from './saved-audience.service.js';

const SavedAudienceRef = builder.objectRef<SavedAudience>('SavedAudience').implement({
  description: 'A named selection (purpose and filter) whose members are read live on every query and export.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    purpose: t.exposeString('purpose'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    members: t.field({
      type: AudienceConnectionRef,
      args: { first: t.arg.int(), after: t.arg.string() },
      resolve: (a, args, ctx, info) =>
        queryAudience(ctx.services, audienceCaller(ctx), {
          ...{ purpose: a.purpose, filter: a.filter, first: args.first, after: args.after, savedAudienceId: a.id },
          asked: readAudienceRequest(info),
          refused: answeredRefusal(ctx),
        }),
    }),
  }),
});

const SavedAudienceConnectionRef = connectionRef<SavedAudience>('SavedAudience', SavedAudienceRef);

builder.queryField('savedAudience', (t) =>
  t.field({
    type: SavedAudienceRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    authScopes: { operator: 'audience:read' },
    description: 'An audience this client saved; null for any other id. audience:read.',
    resolve: (_root, args, ctx) => findSavedAudience(ctx.services.db, audienceCaller(ctx), String(args.id)),
  }),
);

builder.queryField('savedAudiences', (t) =>
  t.field({
    type: SavedAudienceConnectionRef,
    description: 'The audiences this client saved, oldest first; audience:read.',
    args: { first: t.arg.int(), after: t.arg.string() },
    authScopes: { operator: 'audience:read' },
    resolve: (_root, args, ctx) => listSavedAudiences(ctx.services.db, audienceCaller(ctx), args),
  }),
);

const CreateAudienceInput = builder.inputType('CreateAudienceInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    purpose: t.string({ required: true }),
    filter: t.field({ type: AudienceFilterInput }),
  }),
});

builder.mutationField('createAudience', (t) =>
  t.field({
    type: SavedAudienceRef,
    description: 'Saves a selection under a name; audience:read. Export it with GET /audiences/{id}/export.',
    args: { input: t.arg({ type: CreateAudienceInput, required: true }) },
    authScopes: { operator: 'audience:read' },
    resolve: (_root, { input }, ctx) => createSavedAudience(ctx.services, audienceCaller(ctx), input),
  }),
);

builder.mutationField('deleteSavedAudience', (t) =>
  t.id({
    description: 'Deletes an audience this client saved; resolves to its id. Members and their consents are untouched. audience:read.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: { operator: 'audience:read' },
    resolve: (_root, args, ctx) => deleteSavedAudience(ctx.services, audienceCaller(ctx), String(args.id)),
  }),
);
