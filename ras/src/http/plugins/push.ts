/**
 * Table 2 over WebSocket: `GET /v1/push`, bearer token, `?gatewayId=` for a BGW. Credentials are
 * checked before the upgrade, so a refused client gets an HTTP envelope, not a socket.
 */
import { PushClientMessage, decode, validate, Field } from 'homebridge-igrs-smartlock/protocol';
import type {} from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import type { RawData } from 'ws';
import { Type } from 'typebox';
import { RasError } from '../../errors.js';
import type { Caller } from '../../service/accounts.js';
import type { RasServices } from '../../services.js';
import { sendError } from '../route.js';

const PushQuery = Type.Object({ gatewayId: Type.Optional(Field.GatewayId) });

/** A client that says nothing this long after connecting gets every unacknowledged message. */
const RESUME_GRACE_MS = 1000;

declare module 'fastify' {
  interface FastifyRequest {
    pushCaller?: Caller & { gatewayId: string };
  }
}

export const pushPlugin: FastifyPluginAsync<{ services: RasServices }> = (app, { services }) => {
  app.get(
    '/v1/push',
    {
      websocket: true,
      preValidation: async (request, reply) => {
        try {
          const query = validate(PushQuery, request.query ?? {});
          if (!query.ok) throw new RasError(400, `query.${query.error.message}`);
          const caller = await services.accounts.authenticate(request.headers.authorization);
          const gatewayId = query.value.gatewayId ?? '';
          if (gatewayId && !(await services.gateways.owned(caller.accountId, gatewayId))) throw new RasError(404, 'no such gateway');
          request.pushCaller = { ...caller, gatewayId };
        } catch (err) {
          return sendError(services, reply, undefined, 0, err);
        }
      },
    },
    (socket, request) => {
      const caller = request.pushCaller!;
      const conn = services.push.attach({ accountId: caller.accountId, gatewayId: caller.gatewayId, familyId: caller.familyId, socket });
      const grace = setTimeout(() => {
        if (!conn.started) services.push.start(conn);
      }, RESUME_GRACE_MS);
      const fail = (err: unknown): void => {
        services.ctx.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'push message handling failed');
      };
      socket.on('message', (data: RawData, isBinary: boolean) => {
        const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        const parsed = isBinary ? undefined : decode(PushClientMessage, raw);
        if (!parsed?.ok) {
          socket.close(4400, 'expected PushAck or PushResume');
          return;
        }
        const msg = parsed.value;
        if (msg.msgType === 'PushResume') {
          clearTimeout(grace);
          services.push.resume(conn, msg.lastSeq).catch(fail);
        } else {
          services.push.ack(conn, msg.seq).catch(fail);
        }
      });
      socket.on('close', () => {
        clearTimeout(grace);
        services.push.detach(conn);
      });
      socket.on('error', fail);
    },
  );
  return Promise.resolve();
};
