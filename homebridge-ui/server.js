// The custom UI's server script: Homebridge UI forks this file while the plugin's settings are
// open. The logic lives in the plugin's build (dist/ui), so the page and the plugin share one
// RAS client, one credentials format and one Bluetooth gateway implementation.
import { startUiServer } from '../dist/ui/server.js';

startUiServer();
