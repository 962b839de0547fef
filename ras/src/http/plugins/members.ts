/** Resource sharing: members with optional time windows, owner only. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RasServices } from '../../services.js';
import { defineRoute } from '../route.js';

export const membersPlugin: FastifyPluginAsyncTypebox<{ services: RasServices }> = (app, { services }) => {
  const { bslds } = services;
  defineRoute(app, services, 'MemberAddition', ({ caller, params, body }) => bslds.addMember(caller.accountId, params.deviceId, body));
  defineRoute(app, services, 'MemberRemoval', async ({ caller, params }) => {
    await bslds.removeMember(caller.accountId, params.deviceId, params.accountId);
    return {};
  });
  return Promise.resolve();
};
