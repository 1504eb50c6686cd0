/**
 * Certificate files on disk for `pi cert` and `pi up`: a CA folder (`ca.crt`, `ca.key`) and a
 * node folder (`node.crt`, `node.key` and a copy of `ca.crt`) laid out as a node's `tls/` folder
 * expects, so `--out <dataDir>/tls` is all the configuration a node needs. Private keys are
 * written readable by the owner only. The certificate tooling (@peculiar/x509) is loaded only when
 * something is issued, so that `pi up` on an existing ring directory starts faster.
 */
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './output.ts';

/** Paths of a CA folder. */
export function caPaths(dir: string): { cert: string; key: string } {
  return { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

/** Paths of a node certificate folder. */
export function nodeCertPaths(dir: string): { ca: string; cert: string; key: string } {
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'node.crt'), key: join(dir, 'node.key') };
}

async function exists(path: string): Promise<boolean> {
  return fs.access(path).then(
    () => true,
    () => false,
  );
}

async function write(path: string, data: string, mode: number): Promise<void> {
  await fs.writeFile(path, data, { mode });
  await fs.chmod(path, mode); // writeFile keeps the mode of an existing file
}

/** Creates a CA in `dir`. Refuses to overwrite an existing one unless `force`. */
export async function writeCa(dir: string, options: { name?: string; days?: number; force?: boolean } = {}): Promise<{ cert: string; key: string; subject: string; validTo: string }> {
  const paths = caPaths(dir);
  if (!options.force && ((await exists(paths.cert)) || (await exists(paths.key)))) {
    throw new CliError('AlreadyExists', `a CA already exists in ${dir}; use --force to replace it (every node certificate it signed stops being trusted)`);
  }
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const { createCa } = await import('../node/certs.ts');
  const ca = await createCa({ ...(options.name ? { commonName: options.name } : {}), ...(options.days ? { validDays: options.days } : {}) });
  await write(paths.key, ca.keyPem, 0o600);
  await write(paths.cert, ca.certPem, 0o644);
  const x = new X509Certificate(ca.certPem);
  return { ...paths, subject: x.subject, validTo: x.validTo };
}

/** Reads a CA folder. */
export async function readCa(dir: string): Promise<{ certPem: string; keyPem: string }> {
  const paths = caPaths(dir);
  try {
    return { certPem: await fs.readFile(paths.cert, 'utf8'), keyPem: await fs.readFile(paths.key, 'utf8') };
  } catch (err) {
    throw new CliError('NoCa', `cannot read the CA in ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); create one with \`pi cert create-ca --dir ${dir}\``);
  }
}

/**
 * Issues a node certificate signed by the CA in `caDir` into `outDir`. Refuses to overwrite
 * unless `force`.
 */
export async function writeNodeCert(
  caDir: string,
  outDir: string,
  name: string,
  options: { hosts?: string[]; days?: number; force?: boolean } = {},
): Promise<{ ca: string; cert: string; key: string; subject: string; validTo: string }> {
  const paths = nodeCertPaths(outDir);
  if (!options.force && ((await exists(paths.cert)) || (await exists(paths.key)))) {
    throw new CliError('AlreadyExists', `a node certificate already exists in ${outDir}; use --force to replace it`);
  }
  const ca = await readCa(caDir);
  const { createNodeCert } = await import('../node/certs.ts');
  const issued = await createNodeCert({
    caKeyPem: ca.keyPem,
    caCertPem: ca.certPem,
    name,
    hosts: options.hosts ?? [],
    ...(options.days ? { validDays: options.days } : {}),
  });
  await fs.mkdir(outDir, { recursive: true, mode: 0o700 });
  await write(paths.key, issued.keyPem, 0o600);
  await write(paths.cert, issued.certPem, 0o644);
  await write(paths.ca, ca.certPem, 0o644);
  const x = new X509Certificate(issued.certPem);
  return { ...paths, subject: x.subject, validTo: x.validTo };
}

/** Whether `dir` holds a node certificate issued by the CA certificate `caPem`, still valid at `now`. */
export async function hasValidNodeCert(dir: string, caPem: string, now: number): Promise<boolean> {
  const paths = nodeCertPaths(dir);
  try {
    const cert = new X509Certificate(await fs.readFile(paths.cert, 'utf8'));
    const ca = new X509Certificate(caPem);
    const copy = await fs.readFile(paths.ca, 'utf8');
    await fs.access(paths.key);
    return copy.trim() === caPem.trim() && cert.checkIssued(ca) && cert.verify(ca.publicKey) && Date.parse(cert.validTo) > now + 86_400_000;
  } catch {
    return false;
  }
}
