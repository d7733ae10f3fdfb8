// The hosts of one run: this machine and one SshHost per ssh:// user@host:port, each with its
// own inventory (listed once per run). Closing ends every SSH master connection.
import type { ResolvedTarget } from '../config/resolve.js';
import type { Host } from '../remote/host.js';
import { SshHost, sshHostKey } from '../remote/ssh-host.js';
import { Inventory, localHost } from './inventory.js';

export class Hosts {
  private readonly sshHosts = new Map<string, SshHost>();
  private readonly inventories = new Map<Host, Inventory>();

  /** The host a target lives on; no target means this machine (the subvolume's side). */
  hostOf(target?: Pick<ResolvedTarget, 'ssh'>): Host {
    if (!target?.ssh) return localHost;
    const key = sshHostKey(target.ssh);
    let host = this.sshHosts.get(key);
    if (!host) {
      host = new SshHost(target.ssh);
      this.sshHosts.set(key, host);
    }
    return host;
  }

  inventoryOf(target?: Pick<ResolvedTarget, 'ssh'>): Inventory {
    const host = this.hostOf(target);
    let inventory = this.inventories.get(host);
    if (!inventory) {
      inventory = new Inventory(host);
      this.inventories.set(host, inventory);
    }
    return inventory;
  }

  async close(): Promise<void> {
    await Promise.all([...this.sshHosts.values()].map((host) => host.close()));
  }
}
