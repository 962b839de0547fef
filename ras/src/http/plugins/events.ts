/** The audit trail: gateway reports in, the lock-verified and reported history out. */
import type { FastifyPluginAsync } from 'fastify';
import type { RasServices } from '../../services.js';
import { defineRoute } from '../route.js';

export const eventsPlugin: FastifyPluginAsync<{ services: RasServices }> = (app, { services }) => {
  const { events } = services;
  defineRoute(app, services, 'EventReport', ({ caller, params, body }) => events.report(caller.accountId, params.deviceId, body.events));
  defineRoute(app, services, 'EventQuery', async ({ caller, params, query }) => {
    const out = await events.query(caller.accountId, params.deviceId, query.since ?? 0, query.limit ?? 100);
    return out as never;
  });
  return Promise.resolve();
};
