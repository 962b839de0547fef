/** Remote operations: Operation, OperationQuery (long poll), OperationFrames, OperationResult. */
import type { FastifyPluginAsync } from 'fastify';
import type { RasServices } from '../../services.js';
import { defineRoute } from '../route.js';

export const operationsPlugin: FastifyPluginAsync<{ services: RasServices }> = (app, { services }) => {
  const { operations } = services;
  defineRoute(app, services, 'Operation', ({ caller, params, body }) => operations.create(caller.accountId, params.deviceId, body.op));
  defineRoute(app, services, 'OperationQuery', ({ caller, params, query, request }) => {
    // A client that gives up on its long poll frees the waiter at once.
    const abort = new AbortController();
    request.raw.once('close', () => {
      abort.abort();
    });
    return operations.query(caller.accountId, params.operationId, query.wait ?? 0, abort.signal);
  });
  defineRoute(app, services, 'OperationFrames', ({ caller, params, body }) => operations.frames(caller.accountId, params.operationId, body.challenge));
  defineRoute(app, services, 'OperationResult', ({ caller, params, body }) => operations.result(caller.accountId, params.operationId, body));
  return Promise.resolve();
};
