/** Gateways (BGW) and the BSLDs each can hear, which decide where commands are pushed. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RasServices } from '../../services.js';
import { defineRoute } from '../route.js';

export const gatewaysPlugin: FastifyPluginAsyncTypebox<{ services: RasServices }> = (app, { services }) => {
  const { gateways } = services;
  defineRoute(app, services, 'GatewayRegistration', ({ caller, body }) => gateways.register(caller.accountId, body.name));
  defineRoute(app, services, 'GatewayReach', async ({ caller, params, body }) => {
    await gateways.setReach(caller.accountId, params.gatewayId, body.deviceIds);
    return {};
  });
  return Promise.resolve();
};
