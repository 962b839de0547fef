/** The platform alias users put in config.json, and the npm name Homebridge loads. */
export const PLATFORM_NAME = 'IgrsSmartLock';
export const PLUGIN_NAME = 'homebridge-igrs-smartlock';
export const MANUFACTURER = 'IGRS (ISO/IEC 14543-5-104)';
