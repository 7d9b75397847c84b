/**
 * The libvirt calls migration needs, through @unraid/libvirt (N-API): look up, save, restore, state,
 * XML; what the binding lacks (persistence, undefine of a shut-off domain) goes through `virsh`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Hypervisor, type Domain } from '@unraid/libvirt';
import { MigError } from '../util/errors.js';

export class LibvirtError extends MigError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('LIBVIRT', message, data);
  }
}

const STATES = ['nostate', 'running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended'];
export type DomainState = 'running' | 'blocked' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'pmsuspended' | 'nostate' | 'absent';

const msg = (e: unknown) => (e as Error)?.message ?? String(e);

/**
 * libvirt's VIR_ERR_NO_DOMAIN ("Domain not found: no domain with matching name 'x'"). The binding
 * passes on libvirt's message only (its code is lost in the native layer), so the error is
 * recognised by that message. Any other lookup failure (libvirtd gone, access denied, a dropped
 * connection) is not "no such domain" and must not be read as one.
 */
export function isNoDomainError(e: unknown): boolean {
  const m = msg(e);
  return /^Domain not found\b/.test(m) || /\bno domain with matching (name|uuid|id)\b/.test(m);
}

/** libvirt's messages for a connection that died (libvirtd restarted or gone) … */
const CONNECTION_LOST = /Cannot write data|client socket is closed|not connected|End of file while reading data|Cannot recv data|Connection reset by peer/i;
/** … and those of them that say the request was never sent (so even a save or restore may be sent again). */
const NOT_SENT = /Cannot write data|client socket is closed|not connected/i;

export class Libvirt {
  readonly uri: string;
  private hv: Hypervisor;

  private constructor(uri: string, hv: Hypervisor) {
    this.uri = uri;
    this.hv = hv;
  }

  static async open(uri: string): Promise<Libvirt> {
    const hv = new Hypervisor({ uri });
    try {
      await hv.connectOpen();
    } catch (e) {
      throw new LibvirtError(`cannot connect to libvirt at ${uri}: ${msg(e)}`, { uri });
    }
    return new Libvirt(uri, hv);
  }

  async close(): Promise<void> {
    await this.hv.connectClose().catch(() => undefined);
  }

  /**
   * Run `fn` on the connection. When it fails because the connection died (libvirtd was restarted;
   * its domains run on), connect again (for up to 15 s) and run it once more, with `again` true: only
   * if the failure says the request was never sent, or with `anyway` (reads, which may be repeated).
   */
  private async call<T>(fn: (hv: Hypervisor, again: boolean) => Promise<T>, anyway: boolean): Promise<T> {
    try {
      return await fn(this.hv, false);
    } catch (e) {
      if (!(anyway ? CONNECTION_LOST : NOT_SENT).test(msg(e))) throw e;
      try {
        await this.reconnect();
      } catch (e2) {
        throw new Error(`${msg(e)} (connecting again failed: ${msg(e2)})`);
      }
    }
    return fn(this.hv, true);
  }

  /** A new connection in place of one that died, trying for up to 15 s (libvirtd restarting). */
  private async reconnect(): Promise<void> {
    await this.hv.connectClose().catch(() => undefined);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const hv = new Hypervisor({ uri: this.uri });
      try {
        await hv.connectOpen();
        this.hv = hv;
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** The domain, or undefined when libvirt says there is none (VIR_ERR_NO_DOMAIN); any other failure throws. */
  private async lookup(name: string): Promise<Domain | undefined> {
    try {
      return await this.call((hv) => hv.domainLookupByName(name), true);
    } catch (e) {
      if (isNoDomainError(e)) return undefined;
      throw new LibvirtError(`looking up domain ${name} at ${this.uri} failed: ${msg(e)}`, { domain: name, uri: this.uri });
    }
  }

  /** 'absent' only when libvirt says there is no such domain; a failed lookup or state query throws LIBVIRT. */
  async state(name: string): Promise<DomainState> {
    const d = await this.lookup(name);
    if (!d) return 'absent';
    try {
      return (STATES[(await this.call(async (hv, again) => (again ? await hv.domainLookupByName(name) : d).getInfo(), true)).state] ?? 'nostate') as DomainState;
    } catch (e) {
      if (isNoDomainError(e)) return 'absent'; // undefined between the lookup and the query
      throw new LibvirtError(`reading the state of ${name} at ${this.uri} failed: ${msg(e)}`, { domain: name, uri: this.uri });
    }
  }

  async xml(name: string): Promise<string> {
    const d = await this.lookup(name);
    if (!d) throw new LibvirtError(`no domain ${name} at ${this.uri}`, { domain: name, uri: this.uri });
    return this.call(async (hv, again) => (again ? await hv.domainLookupByName(name) : d).getXMLDesc(), true);
  }

  /** The persistent definition (virDomainGetXMLDesc with VIR_DOMAIN_XML_INACTIVE). */
  async inactiveXml(name: string): Promise<string> {
    const d = await this.lookup(name);
    if (!d) throw new LibvirtError(`no domain ${name} at ${this.uri}`, { domain: name, uri: this.uri });
    return this.call(async (hv, again) => (again ? await hv.domainLookupByName(name) : d).getXMLDesc(2 /* VIR_DOMAIN_XML_INACTIVE */), true);
  }

  /** Define (or redefine) a domain persistently (virDomainDefineXML); a running transient domain of that name becomes persistent. */
  async define(xml: string): Promise<void> {
    try {
      await this.call((hv) => hv.domainDefineXML(xml), false);
    } catch (e) {
      throw new LibvirtError(`defining ${domainNameOf(xml) ?? 'the domain'} at ${this.uri} failed: ${msg(e)}`, { uri: this.uri });
    }
  }

  /** Pause the domain and save its state to `file` (virDomainSave); the domain is gone from the host after. */
  async save(name: string, file: string): Promise<void> {
    const d = await this.lookup(name);
    if (!d) throw new LibvirtError(`no domain ${name} at ${this.uri}`, { domain: name, uri: this.uri });
    try {
      await this.call(async (hv, again) => hv.domainSave(again ? await hv.domainLookupByName(name) : d, file), false);
    } catch (e) {
      throw new LibvirtError(`saving ${name} to ${file} failed: ${msg(e)}`, { domain: name, file });
    }
  }

  /** Restore a save image (virDomainRestore); the domain runs afterwards (if it was running when saved). */
  async restore(file: string, name?: string): Promise<void> {
    try {
      await this.call((hv) => hv.domainRestore(file), false);
    } catch (e) {
      throw new LibvirtError(`restoring ${name ?? 'the domain'} from ${file} at ${this.uri} failed: ${msg(e)}`, { domain: name, file, uri: this.uri });
    }
  }

  /** Resume a paused domain (virDomainResume). */
  async resume(name: string): Promise<void> {
    const d = await this.lookup(name);
    if (!d) throw new LibvirtError(`no domain ${name} at ${this.uri}`, { domain: name, uri: this.uri });
    try {
      await this.call(async (hv, again) => hv.domainResume(again ? await hv.domainLookupByName(name) : d), false);
    } catch (e) {
      throw new LibvirtError(`resuming ${name} at ${this.uri} failed: ${msg(e)}`, { domain: name, uri: this.uri });
    }
  }

  /** Stop a domain at once (virDomainDestroy); nothing when there is none. */
  async destroy(name: string): Promise<void> {
    const d = await this.lookup(name);
    if (!d) return;
    try {
      await this.call(async (hv, again) => hv.domainDestroy(again ? await hv.domainLookupByName(name) : d), false);
    } catch (e) {
      if (isNoDomainError(e)) return;
      throw new LibvirtError(`destroying ${name} at ${this.uri} failed: ${msg(e)}`, { domain: name, uri: this.uri });
    }
  }

  /** Whether the domain has a persistent definition (virsh dominfo; the binding has no isPersistent). */
  persistent(name: string): boolean {
    const out = virsh(this.uri, ['dominfo', name]);
    return /^Persistent:\s+yes/m.test(out);
  }

  /**
   * Wait until libvirtd runs no job (a save, a restore) on the domain, or it is gone; a job still
   * running after `timeoutMs` is a LibvirtError. (A save whose client died goes on in libvirtd.)
   */
  async waitNoJob(name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.state(name)) === 'absent') return;
      let out: string;
      try {
        out = execFileSync('virsh', ['-c', this.uri, 'domjobinfo', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        if ((await this.state(name)) === 'absent') return; // gone between the two calls
        throw new LibvirtError(`virsh domjobinfo ${name} failed: ${((e as { stderr?: string }).stderr ?? msg(e)).trim()}`, { domain: name, uri: this.uri });
      }
      const job = /^Job type:\s*(\S+)/m.exec(out)?.[1];
      if (!job || job === 'None') return;
      if (Date.now() > deadline) throw new LibvirtError(`a libvirt job (${job}) on ${name} still runs after ${timeoutMs / 1000} s`, { domain: name, uri: this.uri });
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  undefine(name: string): void {
    virsh(this.uri, ['undefine', name]);
  }
}

/**
 * Restore a save image, paused (virsh restore --paused: the binding has no virDomainRestoreFlags),
 * as a child process that ends when libvirt has loaded the whole image or failed: `file` may be a
 * FIFO another thread is still writing (libvirt reads the stream front to back). Resolves with
 * virsh's exit status and its stderr.
 */
export function restorePaused(uri: string, file: string): { child: ChildProcess; done: Promise<{ code: number; stderr: string }> } {
  const child = spawn('virsh', ['-c', uri, 'restore', '--paused', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const done = new Promise<{ code: number; stderr: string }>((resolve) => {
    child.on('error', (e) => resolve({ code: -1, stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stderr: stderr.trim() }));
  });
  return { child, done };
}

function virsh(uri: string, args: string[]): string {
  try {
    return execFileSync('virsh', ['-c', uri, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new LibvirtError(`virsh ${args.join(' ')} failed: ${((e as { stderr?: string }).stderr ?? msg(e)).trim()}`, { uri });
  }
}

/** Paths of the file and block disks a domain XML uses (what must exist on the destination). */
export function diskPaths(xml: string): string[] {
  const out: string[] = [];
  for (const m of xml.matchAll(/<disk\b[^>]*>([\s\S]*?)<\/disk>/g)) {
    const src = /<source\b[^>]*\b(?:file|dev)=(['"])(.*?)\1/.exec(m[1]);
    if (src) out.push(unescapeXml(src[2]));
  }
  return out;
}

/** The <name> of a domain XML. */
export function domainNameOf(xml: string): string | undefined {
  const m = /<domain\b[^>]*>[\s\S]*?<name>([^<]*)<\/name>/.exec(xml);
  return m ? unescapeXml(m[1]) : undefined;
}

function unescapeXml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}
