/** 7.3–7.5 and sessions: discovery, authentication, registration, confirmation, removal, K_s. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RasServices } from '../../services.js';
import { defineRoute } from '../route.js';

export const bsldsPlugin: FastifyPluginAsyncTypebox<{ services: RasServices }> = (app, { services }) => {
  const { bslds } = services;
  defineRoute(app, services, 'BsldDiscovery', ({ caller }) => bslds.discovery(caller.accountId));
  defineRoute(app, services, 'BsldAuthentication', ({ caller, params }) => bslds.authentication(caller.accountId, params.deviceId));
  defineRoute(app, services, 'BsldRegistration', ({ caller, body }) => bslds.registration(caller.accountId, body));
  defineRoute(app, services, 'BsldConfirm', ({ caller, params, body }) => bslds.confirm(caller.accountId, params.deviceId, body));
  defineRoute(app, services, 'BsldRemoval', ({ caller, params, body }) => bslds.removal(caller.accountId, params.deviceId, body));
  defineRoute(app, services, 'BsldSession', ({ caller, params, body }) => bslds.session(caller.accountId, params.deviceId, body.challenge));
  return Promise.resolve();
};
