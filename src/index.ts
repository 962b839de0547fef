import type { API } from 'homebridge';
import { IgrsSmartLockPlatform } from './homekit/platform.js';
import { PLATFORM_NAME } from './settings.js';

/** Homebridge's entry point: registers the platform, nothing else. */
export default (api: API): void => {
  api.registerPlatform(PLATFORM_NAME, IgrsSmartLockPlatform);
};
