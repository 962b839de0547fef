/**
 * The dynamic platform: restores cached accessories, keeps one accessory per BSLD the account
 * can use in step with the RAS, and refuses to start, saying why, when it is not configured.
 */
import type { API, DynamicPlatformPlugin, Logging, PlatformAccessory, PlatformConfig } from 'homebridge';
import type { BsldInfo } from '../protocol/index.js';
import { PLATFORM_NAME, PLUGIN_NAME } from '../settings.js';
import { resolveConfig, type ResolvedConfig } from './config.js';
import { LockAccessory, type LockContext } from './lock-accessory.js';
import { LockHub, message, type HubLock } from './lock-hub.js';

export class IgrsSmartLockPlatform implements DynamicPlatformPlugin {
  private readonly cached = new Map<string, PlatformAccessory<LockContext>>();
  private readonly live = new Map<string, LockAccessory>();
  private readonly config: ResolvedConfig | undefined;
  private hub: LockHub | undefined;

  constructor(
    private readonly log: Logging,
    rawConfig: PlatformConfig,
    private readonly api: API,
  ) {
    const resolved = resolveConfig(rawConfig);
    if (!resolved.ok) {
      this.log.error(`Not starting: ${resolved.problem}. Fix the ${PLATFORM_NAME} block in config.json or the plugin settings.`);
      return;
    }
    this.config = resolved.config;
    api.on('didFinishLaunching', () => {
      this.start().catch((err: unknown) => {
        this.log.error(`Could not start: ${message(err)}`);
      });
    });
    api.on('shutdown', () => {
      void this.hub?.stop();
    });
  }

  /** Homebridge hands back every cached accessory before didFinishLaunching. */
  configureAccessory(accessory: PlatformAccessory): void {
    this.cached.set(accessory.UUID, accessory as PlatformAccessory<LockContext>);
  }

  private async start(): Promise<void> {
    const config = this.config!;
    const hub = new LockHub({ config, storagePath: this.api.user.storagePath(), log: this.logger(config) });
    this.hub = hub;
    hub.locks$.subscribe((locks) => {
      this.sync(hub, locks);
    });
    const cachedInfo = [...this.cached.values()].map((a) => a.context.info).filter((i): i is BsldInfo => i !== undefined);
    this.log.info(`Starting with ${cachedInfo.length} cached lock(s); RAS ${config.rasUrl}`);
    await hub.start(cachedInfo);
  }

  private sync(hub: LockHub, locks: ReadonlyMap<string, HubLock>): void {
    const config = this.config!;
    const fresh: PlatformAccessory<LockContext>[] = [];
    for (const [deviceId, lock] of locks) {
      const uuid = this.api.hap.uuid.generate(`${PLUGIN_NAME}:${deviceId}`);
      const name = config.locks.get(deviceId)?.name ?? lock.info.name;
      const existing = this.live.get(uuid);
      if (existing) {
        existing.rebind(lock, name);
        continue;
      }
      let accessory = this.cached.get(uuid);
      if (!accessory) {
        accessory = new this.api.platformAccessory<LockContext>(name, uuid);
        accessory.context = { deviceId };
        fresh.push(accessory);
        this.cached.set(uuid, accessory);
        this.log.info(`Adding lock "${name}" (${deviceId}, ${lock.info.role})`);
      }
      accessory.context.info = lock.info;
      const live = new LockAccessory(this.api, this.log, hub, accessory, lock, config.locks.get(deviceId)?.hideDoorSensor ?? false);
      live.rename(name);
      this.live.set(uuid, live);
    }
    if (fresh.length) this.api.registerPlatformAccessories(PLUGIN_NAME, PLATFORM_NAME, fresh);

    // Only the RAS's word removes an accessory: a start from the cache alone keeps every lock.
    if (hub.discovered) {
      const wanted = new Set([...locks.keys()].map((d) => this.api.hap.uuid.generate(`${PLUGIN_NAME}:${d}`)));
      const gone = [...this.cached.values()].filter((a) => !wanted.has(a.UUID));
      for (const a of gone) {
        this.log.info(`Removing lock "${a.displayName}": it is no longer on the account`);
        this.live.get(a.UUID)?.dispose();
        this.live.delete(a.UUID);
        this.cached.delete(a.UUID);
      }
      if (gone.length) this.api.unregisterPlatformAccessories(PLUGIN_NAME, PLATFORM_NAME, gone);
    }
    this.api.updatePlatformAccessories([...this.cached.values()]);
  }

  /** Debug lines become info lines when the plugin's own debug option is on. */
  private logger(config: ResolvedConfig) {
    const log = this.log;
    return {
      debug: (m: string) => {
        if (config.debug) log.info(`[debug] ${m}`);
        else log.debug(m);
      },
      info: (m: string) => {
        log.info(m);
      },
      warn: (m: string) => {
        log.warn(m);
      },
      error: (m: string) => {
        log.error(m);
      },
    };
  }
}
