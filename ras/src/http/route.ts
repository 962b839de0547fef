/**
 * One route per row of the shared route table (`Messages`): the 7.7 envelope in and out, the
 * shared schemas for validation (so a bad field gets 400 naming it), Table 1 statuses mapped to
 * HTTP, bearer or admin authentication. Every area plugin declares its rows through here.
 */
import {
  Messages,
  Wire,
  httpStatusFor,
  makeError,
  makeResponse,
  statusMessage,
  validate,
  ValidationError,
  type ErrorStatus,
  type MessageSpec,
  type MessageStem,
} from 'homebridge-igrs-smartlock/protocol';
import type { Static, TSchema } from 'typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchemaCompiler,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import { RasError } from '../errors.js';
import type { Caller } from '../service/accounts.js';
import type { RasServices } from '../services.js';

type Spec<K extends MessageStem> = (typeof Messages)[K];

export interface RouteInput<K extends MessageStem> {
  body: Static<Spec<K>['request']>;
  params: Static<Spec<K>['params']>;
  query: Static<Spec<K>['query']>;
  /** The authenticated account (bearer routes); a placeholder on `none` and `admin` routes. */
  caller: Caller;
  request: FastifyRequest;
  /** Aborts when the client goes away, so long polls stop waiting for nobody. */
  signal: AbortSignal;
}

export type RouteHandler<K extends MessageStem> = (input: RouteInput<K>) => Promise<Static<Spec<K>['response']>>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The message stem of the route, so errors raised before the handler still name it. */
    stem?: MessageStem;
  }
}

const NO_CALLER: Caller = { accountId: '', familyId: '' };

/** The envelope's seq if it can be read at all: an error answer still echoes it. */
function salvageSeq(body: unknown, query: unknown): number {
  for (const source of [body, query]) {
    if (typeof source === 'object' && source !== null) {
      const raw = (source as Record<string, unknown>).seq;
      const n = typeof raw === 'string' && /^[0-9]{1,10}$/.test(raw) ? Number(raw) : raw;
      if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff) return n;
    }
  }
  return 0;
}

export function sendError(services: RasServices, reply: FastifyReply, stem: MessageStem | undefined, seq: number, err: unknown): FastifyReply {
  let status: ErrorStatus = 500;
  let message = statusMessage(500);
  let body: Record<string, unknown> = {};
  if (err instanceof RasError) {
    status = err.status;
    message = err.message;
    body = err.body ?? {};
    if (err.retryAfter !== undefined) void reply.header('retry-after', String(err.retryAfter));
    // Forged frames, reused challenges and wrong setup codes are what an attack looks like.
    if (status === 423 || status === 428 || status === 430) services.ctx.logger.warn({ stem, status, reason: err.message }, 'refused');
  } else if (err instanceof ValidationError) {
    status = 400;
    message = err.message;
    body = err.field ? { field: err.field } : {};
  } else {
    services.ctx.logger.error({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err), stem }, 'unhandled error');
  }
  const envelope = makeError(stem ?? 'Unknown', seq, status, message, body as never, services.now());
  return reply.code(httpStatusFor(status)).type('application/json').send(envelope);
}

function prefixed(err: ValidationError, part: string): ValidationError {
  const field = err.field ? `${part}.${err.field}` : part;
  return new ValidationError(err.kind, field, `/${part}${err.pointer}`, err.message.replace(/^[^:]*:/, '').trim());
}

/**
 * Fastify validates every request part with the shared schemas through this compiler, so a bad
 * field gets 7.7's "400 naming the field" and the handler sees only the declared fields. Path
 * parameters and query strings arrive as text and are coerced; bodies never are.
 */
export const sharedValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const part = httpPart === 'querystring' ? 'query' : (httpPart ?? 'body');
  return (data: unknown) => {
    const result = validate(schema, data ?? (part === 'body' ? undefined : {}), { coerce: part !== 'body' });
    if (result.ok) return { value: result.value };
    return { error: part === 'body' ? result.error : prefixed(result.error, part) };
  };
};

export type RasInstance = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export function defineRoute<K extends MessageStem>(app: RasInstance, services: RasServices, stem: K, handler: RouteHandler<K>): void {
  const spec: MessageSpec = Messages[stem];
  const wire = Wire[stem] as { request: TSchema };
  const hasBody = spec.method === 'POST' || spec.method === 'PUT';
  app.route({
    method: spec.method,
    url: spec.path,
    config: { stem },
    schema: { params: spec.params, querystring: spec.query, ...(hasBody ? { body: wire.request } : {}) },
    handler: async (request, reply) => {
      const envelope = request.body as { seq: number; body: unknown } | undefined;
      const seq = envelope?.seq ?? salvageSeq(undefined, request.query);
      let out: unknown;
      const abort = new AbortController();
      reply.raw.once('close', () => {
        abort.abort();
      });
      try {
        let caller = NO_CALLER;
        if (spec.auth === 'bearer') caller = await services.accounts.authenticate(request.headers.authorization);
        else if (spec.auth === 'admin') services.requireAdmin(request.headers.authorization);
        out = await handler({
          body: (envelope?.body ?? {}) as RouteInput<K>['body'],
          params: request.params as RouteInput<K>['params'],
          query: request.query as RouteInput<K>['query'],
          caller,
          request,
          signal: abort.signal,
        });
      } catch (err) {
        return sendError(services, reply, stem, seq, err);
      }
      return reply.code(200).type('application/json').send(makeResponse(stem, seq, out, services.now()));
    },
  });
}

/** Envelope answers for what fails before a handler runs: bad JSON, oversized bodies, unknown routes. */
export function installErrorHandlers(app: FastifyInstance | RasInstance, services: RasServices): void {
  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, request, reply) => {
    const stem = request.routeOptions.config.stem;
    const seq = salvageSeq(request.body, request.query);
    if (err instanceof ValidationError) return sendError(services, reply, stem, seq, err);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(services, reply, stem, seq, new ValidationError('size', '', '', 'must be at most 65536 bytes'));
    if (typeof err.code === 'string' && err.code.startsWith('FST_ERR_CTP_')) {
      return sendError(services, reply, stem, seq, new ValidationError('json', '', '', 'must be a JSON envelope in UTF-8 (Content-Type: application/json)'));
    }
    if (err.statusCode === 400) return sendError(services, reply, stem, seq, new ValidationError('json', '', '', err.message));
    return sendError(services, reply, stem, seq, err);
  });
  app.setNotFoundHandler((request, reply) => sendError(services, reply, undefined, salvageSeq(undefined, request.query), new RasError(404, 'no such call')));
}
