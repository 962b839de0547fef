/**
 * One BSLD as a HomeKit lock: LockMechanism, Battery and, when the lock has a door sensor, a
 * ContactSensor. A set answers at once and the lock moves in the background (HAP warns at 3 s
 * and fails at 9 s); LockCurrentState then follows what the lock itself reports.
 */
import type { API, CharacteristicValue, HAPStatus, Logging, PlatformAccessory, Service } from 'homebridge';
import type { Subscription } from 'rxjs';
import { BgwError } from '../bgw/errors.js';
import { DoorState, LockState, Result } from '../protocol/index.js';
import { RasError } from '../rac/errors.js';
import { MANUFACTURER } from '../settings.js';
import { lockStateName, message, type HubLock, type LockHub, type LockView } from './lock-hub.js';

export interface LockContext {
  deviceId: string;
  /** The BsldInfo last seen, so a restart shows the lock before the RAS answers. */
  info?: HubLock['info'];
  lastView?: Pick<LockView, 'lockState' | 'battery' | 'doorState'>;
}

const LOW_BATTERY_PERCENT = 20;

/**
 * HAP status codes (HAPStatus is a const enum in Homebridge 1's types, which isolated modules
 * cannot read): the Home app shows "No Response" for the first.
 */
/* eslint-disable @typescript-eslint/no-unsafe-enum-assignment -- the values are HAPStatus's own */
const SERVICE_COMMUNICATION_FAILURE = -70402 as HAPStatus;
const INVALID_VALUE_IN_REQUEST = -70410 as HAPStatus;
/* eslint-enable @typescript-eslint/no-unsafe-enum-assignment */

export class LockAccessory {
  private readonly lockService: Service;
  private readonly batteryService: Service;
  private contactService: Service | undefined;
  private target: 0 | 1;
  private busy = false;
  private readonly subscription: Subscription;

  constructor(
    private readonly api: API,
    private readonly log: Logging,
    private readonly hub: LockHub,
    readonly accessory: PlatformAccessory<LockContext>,
    private lock: HubLock,
    private readonly hideDoorSensor: boolean,
  ) {
    const { Service: S, Characteristic: C } = api.hap;
    accessory
      .getService(S.AccessoryInformation)!
      .setCharacteristic(C.Manufacturer, MANUFACTURER)
      .setCharacteristic(C.Model, 'Bluetooth smart lock (BSLD)')
      .setCharacteristic(C.SerialNumber, lock.info.deviceId);

    this.lockService = accessory.getService(S.LockMechanism) ?? accessory.addService(S.LockMechanism, accessory.displayName);
    this.batteryService = accessory.getService(S.Battery) ?? accessory.addService(S.Battery, `${accessory.displayName} battery`);
    const view = lock.view$.value;
    this.target = view.lockState === LockState.Unsecured ? 0 : 1;

    this.lockService.getCharacteristic(C.LockCurrentState).onGet(() => this.currentState());
    this.lockService
      .getCharacteristic(C.LockTargetState)
      .onGet(() => this.target)
      .onSet((value) => {
        this.onSetTarget(value);
      });
    this.batteryService.getCharacteristic(C.BatteryLevel).onGet(() => this.view.battery ?? 100);
    this.batteryService.getCharacteristic(C.StatusLowBattery).onGet(() => this.lowBattery());
    this.batteryService.setCharacteristic(C.ChargingState, C.ChargingState.NOT_CHARGEABLE);

    this.subscription = lock.view$.subscribe((v) => {
      this.render(v);
    });
  }

  /** The hub rediscovered the lock (renamed, new advert key): keep the accessory, new data. */
  rebind(lock: HubLock, name: string): void {
    this.lock = lock;
    this.accessory.context.info = lock.info;
    this.rename(name);
  }

  /**
   * A name from the RAS or a `locks[].name` override reaches an accessory that Homebridge
   * restored from its cache too, not only a new one. The Home app keeps a name the user gave it.
   */
  rename(name: string): void {
    if (this.accessory.displayName === name) return;
    const { Service: S, Characteristic: C } = this.api.hap;
    this.log.info(`Renaming lock "${this.accessory.displayName}" to "${name}"`);
    this.accessory.updateDisplayName(name);
    this.accessory.getService(S.AccessoryInformation)?.setCharacteristic(C.Name, name);
    this.lockService.setCharacteristic(C.Name, name);
    this.batteryService.setCharacteristic(C.Name, `${name} battery`);
    this.accessory.getService(S.ContactSensor)?.setCharacteristic(C.Name, `${name} door`);
  }

  dispose(): void {
    this.subscription.unsubscribe();
  }

  private get view(): LockView {
    return this.lock.view$.value;
  }

  private currentState(): CharacteristicValue {
    const { hap } = this.api;
    // "No Response" for a lock we could not reach and have no state for at all, and for every
    // lock while the Bluetooth adapter is gone: nothing can confirm any state then.
    if ((!this.view.reachable && this.view.source === 'cache') || this.hub.bluetoothLost) {
      throw new hap.HapStatusError(SERVICE_COMMUNICATION_FAILURE);
    }
    return this.view.lockState;
  }

  private lowBattery(): number {
    const { C } = { C: this.api.hap.Characteristic };
    return (this.view.battery ?? 100) < LOW_BATTERY_PERCENT ? C.StatusLowBattery.BATTERY_LEVEL_LOW : C.StatusLowBattery.BATTERY_LEVEL_NORMAL;
  }

  private onSetTarget(value: CharacteristicValue): void {
    const { hap } = this.api;
    if (value !== 0 && value !== 1) throw new hap.HapStatusError(INVALID_VALUE_IN_REQUEST);
    const name = this.accessory.displayName;
    if (this.hub.bluetoothLost) {
      this.log.error(`${name}: ${value === 0 ? 'unlock' : 'lock'} refused: the Bluetooth adapter is not available`);
      throw new hap.HapStatusError(SERVICE_COMMUNICATION_FAILURE);
    }
    this.target = value;
    const op = value === 0 ? 'unlock' : 'lock';
    // A log line is a synchronous write to Homebridge's stdout. Written once Table 7 is on its way
    // (setImmediate runs after the microtasks that send it), it overlaps the lock's round trip
    // instead of delaying the frame.
    let announced = false;
    const announce = () => {
      if (announced) return;
      announced = true;
      this.log.info(`${name}: ${op} requested from HomeKit`);
    };
    setImmediate(announce);
    const started = Date.now();
    this.busy = true;
    this.hub.operate(this.lock.info.deviceId, op).then(
      (snap) => {
        this.busy = false;
        announce();
        this.log.info(`${name}: ${lockStateName(snap.lockState)} (confirmed by the lock in ${Date.now() - started} ms)`);
        this.render(this.view);
      },
      (err: unknown) => {
        this.busy = false;
        announce();
        this.log.error(`${name}: ${op} failed: ${explain(err)}`);
        // Back to what the lock last said, so the Home app does not stay on "Unlocking…".
        const current = this.view.lockState;
        if (current === LockState.Unsecured || current === LockState.Secured) this.target = current;
        this.render(this.view);
      },
    );
  }

  private render(v: LockView): void {
    const { Characteristic: C, Service: S } = this.api.hap;
    if (v.firmware && /^\d+(\.\d+){0,2}$/.test(v.firmware)) {
      const info = this.accessory.getService(S.AccessoryInformation)!;
      info.updateCharacteristic(C.FirmwareRevision, v.firmware);
      if (v.model) info.updateCharacteristic(C.Model, v.model);
    }
    this.accessory.context.lastView = { lockState: v.lockState, battery: v.battery, doorState: v.doorState };
    // A lock moved by hand or auto-lock: the target follows, or Home shows "Unlocking…" forever.
    if (!this.busy && (v.lockState === LockState.Unsecured || v.lockState === LockState.Secured)) this.target = v.lockState;
    this.lockService.updateCharacteristic(C.LockCurrentState, v.lockState);
    this.lockService.updateCharacteristic(C.LockTargetState, this.target);
    if (v.battery !== undefined) {
      this.batteryService.updateCharacteristic(C.BatteryLevel, v.battery);
      this.batteryService.updateCharacteristic(C.StatusLowBattery, this.lowBattery());
    }
    this.renderDoor(v.doorState);
  }

  private renderDoor(door: DoorState | undefined): void {
    const { Service: S, Characteristic: C } = this.api.hap;
    const hasSensor = door !== undefined && door !== DoorState.NoSensor && !this.hideDoorSensor;
    if (!hasSensor) {
      const stale = this.accessory.getService(S.ContactSensor);
      if (stale && (this.hideDoorSensor || door === DoorState.NoSensor)) this.accessory.removeService(stale);
      this.contactService = undefined;
      return;
    }
    this.contactService ??= this.accessory.getService(S.ContactSensor) ?? this.accessory.addService(S.ContactSensor, `${this.accessory.displayName} door`);
    this.contactService.updateCharacteristic(
      C.ContactSensorState,
      door === DoorState.Closed ? C.ContactSensorState.CONTACT_DETECTED : C.ContactSensorState.CONTACT_NOT_DETECTED,
    );
  }
}

/** A sentence a person can act on, for each way an operation fails. */
export function explain(err: unknown): string {
  if (err instanceof BgwError) {
    switch (err.code) {
      case 'unreachable':
        return `the lock is out of range or not seen by the Bluetooth adapter (${err.message})`;
      case 'timeout':
        return `the lock did not answer in time (${err.message})`;
      case 'refused':
        return err.details.result === Result.Jammed ? 'the lock is jammed' : err.message;
      default:
        return err.message;
    }
  }
  if (err instanceof RasError) {
    if (err.isOutage) return `the RAS cannot be reached (${err.message})`;
    if (err.status === 403) return 'the RAS refused: this account has no right to this lock now';
    return `the RAS refused: ${err.message}`;
  }
  return message(err);
}
