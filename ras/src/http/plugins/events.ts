/** The audit trail: gateway reports in, the lock-verified and reported history out. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EventQueryResponse } from 'homebridge-igrs-smartlock/protocol';
import type { RasServices } from '../../services.js';
import { defineRoute } from '../route.js';

export const eventsPlugin: FastifyPluginAsyncTypebox<{ services: RasServices }> = (app, { services }) => {
  const { events } = services;
  defineRoute(app, services, 'EventReport', ({ caller, params, body }) => events.report(caller.accountId, params.deviceId, body.events));
  defineRoute(app, services, 'EventQuery', async ({ caller, params, query }) => {
    // Stored events were validated as ReportedEvent on the way in.
    return (await events.query(caller.accountId, params.deviceId, query.since ?? 0, query.limit ?? 100)) as EventQueryResponse;
  });
  return Promise.resolve();
};
