/** 7.1 and 7.2: verification codes, user registration, login, token refresh, logout. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RasServices } from '../../services.js';
import { defineRoute } from '../route.js';

export const usersPlugin: FastifyPluginAsyncTypebox<{ services: RasServices }> = (app, { services }) => {
  const { accounts } = services;
  defineRoute(app, services, 'VerificationCode', ({ body, request }) => accounts.requestVerification(body.identifier, request.ip));
  defineRoute(app, services, 'UserRegistration', ({ body }) => accounts.register(body));
  defineRoute(app, services, 'UserAuthentication', ({ body, request }) => accounts.login(body.identifier, body.password, request.ip));
  defineRoute(app, services, 'TokenRefresh', ({ body }) => accounts.refresh(body.refreshToken));
  defineRoute(app, services, 'Logout', async ({ body }) => {
    await accounts.logout(body.refreshToken);
    return {};
  });
  return Promise.resolve();
};
