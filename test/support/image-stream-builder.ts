// A real image stream in a temp dir: simplestreams index and products (json and clear-signed sjson), LXD images, a SHA256SUMS tree.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runChecked } from './command-runner.ts';
import { GpgKeyring } from './gpg-keyring.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

/** One file of the stream: where it is (relative to the root, no leading slash) and its bytes. */
export interface StreamFile {
  readonly path: string;
  readonly bytes: Buffer;
  readonly sha256: string;
}

export interface ImageStreamOptions {
  /** Size of the MAAS-like squashfs item (random bytes); default 3 MB. */
  readonly squashfsSize?: number;
  /** Size of the checksum tree's moving `disk.img`; default 2 MB. */
  readonly diskSize?: number;
}

/** The LXD product's serial: starts with a date (LXD reads the creation date from its first 8 characters) and has a `:`. */
export const lxdSerial = '20260101_05:24';
export const lxdAlias = 'hoardtest/bookworm';
export const unifiedAlias = 'hoardtest/unified';
/** Products file names carry `:` as real streams' content ids do. */
export const lxdProductsPath = 'streams/v1/com.example.hoard:images.json';
export const maasProductsPath = 'streams/v1/com.example.hoard:maas.json';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export class ImageStream {
  readonly root: string;
  readonly keyring: GpgKeyring;
  /** By role: `lxd-meta`, `lxd-squashfs`, `lxd-rootxz`, `unified`, `kernel`, `initrd`, `squashfs`, `disk` (moving), `disk-versioned`. */
  readonly files = new Map<string, StreamFile>();
  /** LXD fingerprints: split squashfs image, split root.tar.xz image, unified image. */
  fingerprints = { squashfs: '', rootxz: '', unified: '' };
  readonly #work: string;

  private constructor(root: string, work: string, keyring: GpgKeyring) {
    this.root = root;
    this.#work = work;
    this.keyring = keyring;
  }

  static async create(options: ImageStreamOptions = {}): Promise<ImageStream> {
    const root = await makeTempDir('image-stream');
    const work = await makeTempDir('image-work');
    const keyring = await GpgKeyring.generate({ uid: 'hoard test images <images@hoard.invalid>' });
    const stream = new ImageStream(root, work, keyring);
    try {
      await stream.#build(options);
    } catch (error) {
      await stream.cleanup();
      throw error;
    }
    return stream;
  }

  file(role: string): StreamFile {
    const file = this.files.get(role);
    if (file === undefined) throw new Error(`no stream file ${role}`);
    return file;
  }

  /** The moving `current/disk.img` is replaced with new bytes and its SHA256SUMS (and .gpg) rewritten, as a daily tree is. */
  async replaceMovingDisk(bytes: Buffer = randomBytes(this.file('disk').bytes.length)): Promise<StreamFile> {
    const disk = await this.#put('disk', 'cloud/bookworm/current/disk.img', bytes);
    await this.#writeSums('cloud/bookworm/current', [disk]);
    for (const name of ['disk.img', 'SHA256SUMS', 'SHA256SUMS.gpg']) await laterMtime(join(this.root, 'cloud/bookworm/current', name));
    return disk;
  }

  /** A new dated directory of the checksum tree: `files` (name -> bytes) with their SHA256SUMS and SHA256SUMS.gpg. */
  async addTreeDirectory(directory: string, files: Readonly<Record<string, Buffer>>): Promise<StreamFile[]> {
    const written: StreamFile[] = [];
    for (const [name, bytes] of Object.entries(files)) written.push(await this.#put(`${directory}/${name}`, `${directory}/${name}`, bytes));
    await this.#writeSums(directory, written);
    return written;
  }

  /** Rewrites a directory's SHA256SUMS (and .gpg) without the line for `name`: the tree no longer lists that file. */
  async dropFromSums(directory: string, name: string): Promise<void> {
    const sums = join(this.root, directory, 'SHA256SUMS');
    const text = (await readFile(sums, 'utf8'))
      .split('\n')
      .filter((line) => !line.endsWith(` *${name}`))
      .join('\n');
    await writeFile(sums, text);
    await writeFile(`${sums}.gpg`, await this.keyring.detachSign(text));
    await laterMtime(sums);
    await laterMtime(`${sums}.gpg`);
  }

  /** Rewrites a file in place without touching any list (an upstream that lies), with a later Last-Modified. */
  async overwrite(path: string, bytes: Buffer): Promise<void> {
    await writeFile(join(this.root, path), bytes);
    await laterMtime(join(this.root, path));
  }

  async read(path: string): Promise<Buffer> {
    return readFile(join(this.root, path));
  }

  async cleanup(): Promise<void> {
    await this.keyring.dispose();
    await removeDir(this.root);
    await removeDir(this.#work);
  }

  async #build(options: ImageStreamOptions): Promise<void> {
    // The LXD split image: metadata tarball (metadata.yaml), a squashfs made by mksquashfs, and the same tree as root.tar.xz.
    const tree = join(this.#work, 'rootfs');
    await mkdir(join(tree, 'etc'), { recursive: true });
    await writeFile(join(tree, 'etc', 'os-release'), 'NAME="hoard test"\nID=hoardtest\n');
    await writeFile(join(tree, 'etc', 'payload'), randomBytes(200_000));
    const metaDir = join(this.#work, 'meta');
    await mkdir(join(metaDir, 'templates'), { recursive: true });
    const metadataYaml = [
      'architecture: x86_64',
      'creation_date: 1767244800',
      'properties:',
      '  description: hoard test bookworm',
      '  os: hoardtest',
      '  release: bookworm',
      'templates: {}',
      '',
    ].join('\n');
    await writeFile(join(metaDir, 'metadata.yaml'), metadataYaml);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', XZ_OPT: '-1' };
    const tarOptions = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1767244800'];
    const metaTar = join(this.#work, 'lxd.tar.xz');
    await runChecked('tar', [...tarOptions, '-cJf', metaTar, '-C', metaDir, 'metadata.yaml', 'templates'], { env });
    const squash = join(this.#work, 'rootfs.squashfs');
    await runChecked('mksquashfs', [tree, squash, '-noappend', '-quiet', '-no-progress', '-all-root', '-mkfs-time', '1767244800', '-all-time', '1767244800'], {
      env,
      timeoutMs: 120_000,
    });
    const rootTar = join(this.#work, 'root.tar.xz');
    await runChecked('tar', [...tarOptions, '-cJf', rootTar, '-C', tree, '.'], { env });
    // The unified image: one tarball holding metadata.yaml and rootfs/.
    const unifiedDir = join(this.#work, 'unified');
    await mkdir(join(unifiedDir, 'rootfs', 'etc'), { recursive: true });
    await writeFile(join(unifiedDir, 'metadata.yaml'), metadataYaml.replace('hoard test bookworm', 'hoard test unified'));
    await writeFile(join(unifiedDir, 'rootfs', 'etc', 'os-release'), 'NAME="hoard unified"\n');
    const unifiedTar = join(this.#work, 'lxd_combined.tar.gz');
    await runChecked('tar', [...tarOptions, '-czf', unifiedTar, '-C', unifiedDir, 'metadata.yaml', 'rootfs'], { env });

    const lxdDir = `images/hoardtest/bookworm/amd64/default/${lxdSerial}`;
    const meta = await this.#put('lxd-meta', `${lxdDir}/lxd.tar.xz`, await readFile(metaTar));
    const squashfs = await this.#put('lxd-squashfs', `${lxdDir}/rootfs.squashfs`, await readFile(squash));
    const rootxz = await this.#put('lxd-rootxz', `${lxdDir}/root.tar.xz`, await readFile(rootTar));
    const unified = await this.#put('unified', `images/hoardtest/unified/amd64/default/${lxdSerial}/lxd_combined.tar.gz`, await readFile(unifiedTar));
    this.fingerprints = {
      squashfs: sha256(Buffer.concat([meta.bytes, squashfs.bytes])),
      rootxz: sha256(Buffer.concat([meta.bytes, rootxz.bytes])),
      unified: unified.sha256,
    };
    const item = (f: StreamFile, ftype: string, extra: Record<string, unknown> = {}) => ({
      ftype,
      path: f.path,
      sha256: f.sha256,
      size: f.bytes.length,
      md5: createHash('md5').update(f.bytes).digest('hex'),
      ...extra,
    });
    const lxdProducts = {
      content_id: 'com.example.hoard:images',
      datatype: 'image-downloads',
      format: 'products:1.0',
      updated: 'Thu, 01 Jan 2026 05:24:00 +0000',
      products: {
        'hoardtest:bookworm:amd64:default': {
          aliases: `${lxdAlias},${lxdAlias}/default`,
          arch: 'amd64',
          os: 'hoardtest',
          release: 'bookworm',
          release_title: 'bookworm',
          variant: 'default',
          versions: {
            [lxdSerial]: {
              items: {
                'lxd.tar.xz': item(meta, 'lxd.tar.xz', {
                  combined_squashfs_sha256: this.fingerprints.squashfs,
                  combined_rootxz_sha256: this.fingerprints.rootxz,
                  combined_sha256: this.fingerprints.rootxz,
                }),
                'root.squashfs': item(squashfs, 'squashfs'),
                'root.tar.xz': item(rootxz, 'root.tar.xz'),
              },
            },
          },
        },
        'hoardtest:unified:amd64:default': {
          aliases: unifiedAlias,
          arch: 'amd64',
          os: 'hoardtest',
          release: 'unified',
          release_title: 'unified',
          versions: { [lxdSerial]: { items: { 'lxd_combined.tar.gz': item(unified, 'lxd_combined.tar.gz') } } },
        },
      },
    };

    // The MAAS-like boot resources: kernel, initrd and a squashfs, in a stream of their own.
    const maasDir = 'maas/bookworm/amd64/20260101.1/ga-12/generic';
    const kernel = await this.#put('kernel', `${maasDir}/boot-kernel`, randomBytes(700_000));
    const initrd = await this.#put('initrd', `${maasDir}/boot-initrd`, randomBytes(900_000));
    const maasSquash = await this.#put('squashfs', `maas/bookworm/amd64/20260101.1/squashfs`, randomBytes(options.squashfsSize ?? 3_000_000));
    const maasProducts = {
      content_id: 'com.example.hoard:maas',
      datatype: 'image-ids',
      format: 'products:1.0',
      products: {
        'com.example.hoard:boot:bookworm:amd64:ga-12': {
          arch: 'amd64',
          os: 'hoardtest',
          release: 'bookworm',
          versions: {
            '20260101.1': {
              items: {
                'boot-kernel': item(kernel, 'boot-kernel', { kpackage: 'linux-generic' }),
                'boot-initrd': item(initrd, 'boot-initrd', { kpackage: 'linux-generic' }),
                squashfs: item(maasSquash, 'squashfs'),
              },
            },
          },
        },
      },
    };
    await this.#putJson(lxdProductsPath, lxdProducts);
    await this.#putJson(maasProductsPath, maasProducts);
    await this.#putJson('streams/v1/index.json', {
      format: 'index:1.0',
      updated: 'Thu, 01 Jan 2026 05:24:00 +0000',
      index: {
        'com.example.hoard:images': {
          datatype: 'image-downloads',
          path: lxdProductsPath,
          format: 'products:1.0',
          products: Object.keys(lxdProducts.products),
        },
        'com.example.hoard:maas': {
          datatype: 'image-ids',
          path: maasProductsPath,
          format: 'products:1.0',
          products: Object.keys(maasProducts.products),
        },
      },
    });

    // A checksum-file tree: a versioned directory and the moving `current/`, each with SHA256SUMS and SHA256SUMS.gpg.
    const diskBytes = randomBytes(options.diskSize ?? 2_000_000);
    const versioned = await this.#put('disk-versioned', 'cloud/bookworm/20260101/disk.img', diskBytes);
    const tarball = await this.#put('tarball', 'cloud/bookworm/20260101/root+extra.tar.xz', randomBytes(300_000));
    await this.#writeSums('cloud/bookworm/20260101', [versioned, tarball]);
    const disk = await this.#put('disk', 'cloud/bookworm/current/disk.img', diskBytes);
    await this.#writeSums('cloud/bookworm/current', [disk]);
  }

  async #put(role: string, path: string, bytes: Buffer): Promise<StreamFile> {
    const full = join(this.root, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, bytes);
    const file = { path, bytes, sha256: sha256(bytes) };
    this.files.set(role, file);
    return file;
  }

  /** `x.json` and its clear-signed twin `x.sjson` (the same document), as simplestreams publishes both. */
  async #putJson(path: string, document: unknown): Promise<void> {
    const text = `${JSON.stringify(document, null, 1)}\n`;
    await mkdir(dirname(join(this.root, path)), { recursive: true });
    await writeFile(join(this.root, path), text);
    await writeFile(join(this.root, path.replace(/\.json$/, '.sjson')), await this.keyring.clearsign(text));
  }

  async #writeSums(directory: string, files: readonly StreamFile[]): Promise<void> {
    const text = files.map((f) => `${f.sha256} *${f.path.slice(directory.length + 1)}\n`).join('');
    await writeFile(join(this.root, directory, 'SHA256SUMS'), text);
    await writeFile(join(this.root, directory, 'SHA256SUMS.gpg'), await this.keyring.detachSign(text));
  }
}

/** A conditional request must see the change: files rewritten within the same second get an mtime seconds later. */
async function laterMtime(path: string): Promise<void> {
  const later = new Date(Date.now() + 3000);
  await utimes(path, later, later);
}
