// The SharedWorker: one per browser profile (and per worker version); it holds the only socket and
// serves every tab of the origin through a MessagePort.
import { Hub } from './hub.js?v=1807138a43';

const ports = new Set();
const hub = new Hub(self.location.origin, (msg) => {
  for (const port of ports) port.postMessage(msg);
});

self.onconnect = (e) => {
  const port = e.ports[0];
  ports.add(port);
  port.onmessage = (ev) => {
    const msg = ev.data;
    if (msg?.t === 'bye') {
      ports.delete(port);
      return;
    }
    if (msg?.t === 'ports') {
      port.postMessage({ t: 'ports', count: ports.size });
      return;
    }
    hub.handle(msg, (reply) => port.postMessage(reply));
  };
};
