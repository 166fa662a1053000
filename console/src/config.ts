/** What the server puts in the page: the WebSocket port, and a token in embedded demo mode. */
export interface PageConfig {
  wsPort: number;
  demoToken?: string;
}

export const config: PageConfig = JSON.parse(document.getElementById('deskwire-config')?.textContent ?? '{}') as PageConfig;

export const restUrl = location.origin;
export const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.hostname}:${config.wsPort}`;
