/** DDMS provisioning behind the admin token (RAS_ADMIN_TOKEN); the CLI does the same offline. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RasError } from '../../errors.js';
import type { RasServices } from '../../services.js';
import { defineRoute } from '../route.js';

export const adminPlugin: FastifyPluginAsyncTypebox<{ services: RasServices }> = (app, { services }) => {
  defineRoute(app, services, 'Provision', async ({ body }) => {
    const outcome = await services.ddms.provision(body);
    if (outcome === 'key-conflict') throw new RasError(409, 'this deviceId is provisioned with another K_d');
    services.ctx.logger.info({ deviceId: body.deviceId, outcome }, 'BSLD provisioned');
    return { deviceId: body.deviceId };
  });
  return Promise.resolve();
};
