import type { ApolloServerPlugin } from '@apollo/server';
import { costLimitRule, type CostLimitOptions } from '@escape.tech/graphql-armor-cost-limit';
import {
  GraphQLError,
  Kind,
  TypeInfo,
  getNamedType,
  getVariableValues,
  validate,
  visit,
  visitWithTypeInfo,
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValidationRule,
} from 'graphql';
import type { Context } from '../graphql/context.js';
import { HubError } from '../shared/errors.js';
import { AUDIENCE_PAGE, CONSENT_LIST, PAGE } from '../shared/pagination.js';
import { limitRefusal } from './format-error.js';

/** Roughly the number of values one response may carry: each field costs 1, times the `first` of its list. */
export const MAX_COST = 20_000;

/** graphql-armor's cost rule, flat per field and multiplied by literal `first` and `last` arguments. */
export const COST_OPTIONS: CostLimitOptions = Object.freeze({ maxCost: MAX_COST, objectCost: 1, scalarCost: 1, depthCostFactor: 1 });

const PAGE_ARGUMENTS = new Set(['first', 'last']);

/**
 * The page sizes of a list, by the type it lists, as its resolver applies them: audiences page by
 * AUDIENCE_PAGE (both `audience` and `SavedAudience.members` go through audience.service), a
 * user's consents and connected agents by CONSENT_LIST, every other list by PAGE.
 */
const SIZES_BY_TYPE: Readonly<Record<string, { readonly default: number; readonly max: number }>> = Object.freeze({
  AudienceConnection: AUDIENCE_PAGE,
  Consent: CONSENT_LIST,
  ConnectedAgent: CONSENT_LIST,
});

/** What a document needs beyond the count graphql-armor made at validation, kept per document. */
type CostPlan =
  /** No page variable: the cost is known once, from the document with left-out pages filled in. */
  | { readonly byVariable: false; readonly refusal: string | undefined }
  /** Counted per request, once the variables are bound into `document` (left-out pages filled in). */
  | { readonly byVariable: true; readonly document: DocumentNode };

/**
 * The cost rule runs at validation, before variables are known, and counts a list whose `first`
 * is a variable, null or left out as 1. This counts such documents again before they run: a
 * variable as the operation will see it (the request's value, else the variable's default), a
 * null or left-out `first` as the page its resolver returns then, so a document costs what the
 * same document with `first: <default>` costs. A value the operation will refuse counts as the
 * list's largest page.
 */
export function pageCost(schema: GraphQLSchema): ApolloServerPlugin<Context> {
  // Apollo reuses the parsed document of a query it has seen: the plan is made once per document.
  const plans = new WeakMap<DocumentNode, CostPlan>();
  const rule = costLimitRule({ ...COST_OPTIONS, exposeLimits: true });
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request, operation }) {
          let plan = plans.get(document);
          if (plan === undefined) plans.set(document, (plan = planCost(schema, rule, document)));
          const refusal = plan.byVariable ? refusalOf(schema, rule, bindPageVariables(schema, plan.document, variableValues(schema, operation, request.variables))) : plan.refusal;
          if (refusal) throw new HubError('BAD_USER_INPUT', refusal, { http: { status: 400 } });
        },
      };
    },
  };
}

function planCost(schema: GraphQLSchema, rule: ValidationRule, document: DocumentNode): CostPlan {
  const typeInfo = new TypeInfo(schema);
  let byVariable = false;
  let filled = false;
  const costed = visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const field = typeInfo.getFieldDef();
        const pageArgument = field?.args.find((arg) => PAGE_ARGUMENTS.has(arg.name));
        if (!field || !pageArgument) return undefined;
        const given = node.arguments?.find((arg) => PAGE_ARGUMENTS.has(arg.name.value));
        if (given?.value.kind === Kind.VARIABLE) byVariable = true;
        if (given && given.value.kind !== Kind.NULL) return undefined;
        filled = true;
        return withPageSize(node, given, pageArgument.name, sizesOf(field).default);
      },
    }),
  );
  if (byVariable) return { byVariable, document: costed };
  // Without a filled-in page, graphql-armor's count at validation was the whole count.
  return { byVariable, refusal: filled ? refusalOf(schema, rule, costed) : undefined };
}

function sizesOf(field: GraphQLField<unknown, unknown>): { readonly default: number; readonly max: number } {
  return SIZES_BY_TYPE[getNamedType(field.type).name] ?? PAGE;
}

/** `node` with its page argument (`given`, if any) replaced by the literal `size`. */
function withPageSize(node: FieldNode, given: ArgumentNode | undefined, name: string, size: number): FieldNode {
  const argument: ArgumentNode = { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: name }, value: { kind: Kind.INT, value: String(size) } };
  return { ...node, arguments: [...(node.arguments ?? []).filter((arg) => arg !== given), argument] };
}

/** The operation's variables as graphql-js will bind them, defaults applied; undefined when it will refuse them. */
function variableValues(schema: GraphQLSchema, operation: OperationDefinitionNode | undefined, given: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const values = getVariableValues(schema, operation?.variableDefinitions ?? [], given ?? {}, { maxErrors: 1 });
  return values.coerced;
}

/** Each page variable replaced by its value: a null or absent one by the list's default page, one the operation refuses by its largest. */
function bindPageVariables(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> | undefined): DocumentNode {
  const typeInfo = new TypeInfo(schema);
  return visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const field = typeInfo.getFieldDef();
        const given = node.arguments?.find((arg) => PAGE_ARGUMENTS.has(arg.name.value));
        if (!field || given?.value.kind !== Kind.VARIABLE) return undefined;
        const sizes = sizesOf(field);
        const value = variables ? variables[given.value.name.value] : undefined;
        const size = variables === undefined ? sizes.max : typeof value === 'number' ? value : sizes.default;
        return withPageSize(node, given, given.name.value, size);
      },
    }),
  );
}

/** The cost rule's refusal of `document`, if it refuses it. */
function refusalOf(schema: GraphQLSchema, rule: ValidationRule, document: DocumentNode): string | undefined {
  try {
    const refusal = validate(schema, document, [rule])[0]?.message;
    return refusal && limitRefusal(refusal);
  } catch (error) {
    // The rule throws its refusal rather than reporting it.
    if (!(error instanceof GraphQLError)) throw error;
    return limitRefusal(error.message);
  }
}
