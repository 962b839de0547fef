/** Remote operations: Operation, OperationQuery (long poll), OperationFrames, OperationResult. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RasServices } from '../../services.js';
import { defineRoute } from '../route.js';

export const operationsPlugin: FastifyPluginAsyncTypebox<{ services: RasServices }> = (app, { services }) => {
  const { operations } = services;
  defineRoute(app, services, 'Operation', ({ caller, params, body }) => operations.create(caller.accountId, params.deviceId, body.op));
  defineRoute(app, services, 'OperationQuery', ({ caller, params, query, signal }) =>
    operations.query(caller.accountId, params.operationId, query.wait ?? 0, signal),
  );
  defineRoute(app, services, 'OperationFrames', ({ caller, params, body }) => operations.frames(caller.accountId, params.operationId, body.challenge));
  defineRoute(app, services, 'OperationResult', ({ caller, params, body }) => operations.result(caller.accountId, params.operationId, body));
  return Promise.resolve();
};
