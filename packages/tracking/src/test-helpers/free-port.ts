// A free loopback port for a test's server: five engineers' suites run at once, so never a fixed port.
// Its own module (re-exported by real-mlflow.ts) so that tests needing only a port do not probe for MLflow.
import net from 'node:net';

/** A free TCP port on 127.0.0.1 (nothing listens on it when this returns). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
